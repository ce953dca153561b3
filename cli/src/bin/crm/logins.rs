//! The `crm serve` flags of logins (`crm_api::login`).

use std::time::Duration;

/// The `crm serve` flags of logins.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// Minutes of inactivity after which a session cookie stops working.
    #[arg(long, env = "CRM_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=10080))]
    pub session_idle_minutes: u64,
    /// Mark the session cookie `Secure` (when the server is reached over TLS, e.g.
    /// behind a TLS proxy; `X-Forwarded-Proto: https` on the login also does).
    #[arg(long, env = "CRM_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Origins (comma-separated, e.g. `https://crm.example.com`) from which browsers may
    /// log in and write with a session, besides the server's own `Host` (needed behind
    /// a proxy that rewrites `Host`).
    #[arg(long, env = "CRM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Failed logins one email may have in --login-failure-window; beyond, 429 until it
    /// ends (0: no limit).
    #[arg(long, env = "CRM_LOGIN_FAILURES_PER_EMAIL", default_value_t = 5)]
    pub login_failures_per_email: u32,
    /// Failed logins one address may have in --login-failure-window; beyond, 429 until
    /// it ends (0: no limit).
    #[arg(long, env = "CRM_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub login_failures_per_address: u32,
    /// Seconds of the window in which failed logins are counted.
    #[arg(long, env = "CRM_LOGIN_FAILURE_WINDOW", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub login_failure_window: u64,
}

impl LoginArgs {
    /// The settings these flags say.
    pub fn settings(&self) -> crm_api::login::LoginSettings {
        crm_api::login::LoginSettings {
            idle_timeout: Duration::from_secs(self.session_idle_minutes * 60),
            secure_cookies: self.secure_cookies,
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|o| crm_api::login::csrf::normalize_origin(o))
                .filter(|o| !o.is_empty())
                .collect(),
            max_failures_per_email: self.login_failures_per_email,
            max_failures_per_address: self.login_failures_per_address,
            failure_window: Duration::from_secs(self.login_failure_window),
        }
    }
}
