//! People log in (issue 16, api.md "People log in"): passwords set by an admin or a
//! director, or by a manager himself with his current one, or by `crm password set`;
//! `POST /auth/login` gives a strict session cookie that acts as its manager does with
//! a token; writes with it need the session's CSRF token and the server's own origin;
//! failures answer alike and are throttled per email and per address; sessions end at
//! logout, after inactivity and with the manager's deactivation; no password reaches
//! the log.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use crm_api::login::password::{set_from_reader, PasswordError};
use crm_api::login::LoginSettings;
use crm_tests::scenario::{inactive_manager, manager, token};
use crm_tests::{Answer, TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A member of the team with an email.
async fn member(app: &TestApp, name: &str, email: &str, role: &str) -> Uuid {
    let answer = app
        .post(
            "/managers",
            &json!({"name": name, "department": "Sales", "role": role, "email": email}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().unwrap().parse().unwrap()
}

/// `POST /managers/{id}/password` with `token`.
async fn set_password(
    app: &TestApp,
    token: &str,
    id: Uuid,
    password: &str,
    current: Option<&str>,
) -> Answer {
    let mut body = json!({ "password": password });
    if let Some(current) = current {
        body["current_password"] = json!(current);
    }
    app.send(
        Method::POST,
        &format!("/managers/{id}/password"),
        Some(token),
        Some(&body),
        &[],
    )
    .await
}

/// `POST /auth/login` with `headers`.
async fn login_with(
    app: &TestApp,
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let body = json!({"email": email, "password": password});
    app.send(Method::POST, "/auth/login", None, Some(&body), headers)
        .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Answer {
    login_with(app, email, password, &[]).await
}

/// A logged-in session: its `Cookie` header and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn log_in(app: &TestApp, email: &str, password: &str) -> Browser {
        let answer = login(app, email, password).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        Browser {
            cookie: cookie_of(&answer),
            csrf: answer.body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Sends with the cookie, the CSRF token when `csrf`, and `headers`.
    async fn send(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<&Value>,
        csrf: bool,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut all = vec![("cookie", self.cookie.as_str())];
        if csrf {
            all.push(("x-csrf-token", self.csrf.as_str()));
        }
        all.extend_from_slice(headers);
        app.send(method, path, None, body, &all).await
    }

    async fn get(&self, app: &TestApp, path: &str) -> Answer {
        self.send(app, Method::GET, path, None, false, &[]).await
    }
}

/// The `name=value` of the session cookie an answer sets.
fn cookie_of(answer: &Answer) -> String {
    let set = set_cookie(answer);
    set.split(';').next().unwrap().trim().to_owned()
}

fn set_cookie(answer: &Answer) -> String {
    answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned()
}

fn client_of(manager: Uuid, name: &str) -> Value {
    json!({"name": name, "kind": "company", "manager_id": manager, "contacts": []})
}

fn problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.code(), code, "{}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

#[sqlx::test(migrations = false)]
async fn an_admin_sets_a_password_and_the_manager_logs_in_with_a_strict_cookie(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let olena = member(&app, "Olena", "Olena@Example.com", "manager").await;
    let password = "kashtan-v-tsvitu-2026";
    let answer = set_password(&app, ADMIN_TOKEN, olena, password, None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);

    // The email in any case, with spaces around.
    let answer = login(&app, " olena@example.COM ", password).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["manager_id"], olena.to_string());
    assert_eq!(answer.body["name"], "Olena");
    assert_eq!(answer.body["role"], "manager");
    let set = set_cookie(&answer);
    let attributes: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("crm_session="), "{set}");
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&wanted), "{set} lacks {wanted}");
    }
    assert!(!set.contains("Secure"), "{set}");

    // The session reads as she does with a token: her manager, not the company's log.
    let browser = Browser {
        cookie: cookie_of(&answer),
        csrf: answer.body["csrf_token"].as_str().unwrap().to_owned(),
    };
    let me = browser
        .get(&app, &format!("/streams/manager-{olena}/state"))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(
        me.body.to_string().contains("Olena@Example.com"),
        "{}",
        me.body
    );
    let session = browser.get(&app, "/auth/session").await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    assert_eq!(session.body["manager_id"], olena.to_string());
    assert_eq!(session.body["role"], "manager");
    assert_eq!(session.body["csrf_token"], browser.csrf.as_str());
    problem(
        &browser.get(&app, "/events").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Without the cookie, nothing.
    let anonymous = app
        .send(Method::GET, "/auth/session", None, None, &[])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // A bearer token's owner, without a CSRF token.
    let admin = app.get("/auth/session").await;
    assert_eq!(admin.body["role"], "admin");
    assert_eq!(admin.body["csrf_token"], Value::Null);

    // Stored: an Argon2id hash, not the password; the session by its SHA-256 only.
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM api.passwords WHERE manager_id = $1")
            .bind(olena)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(password));
    let value = browser.cookie.trim_start_matches("crm_session=");
    let hashed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api.sessions WHERE session_hash = sha256(convert_to($1, 'UTF8')) \
         AND manager_id = $2",
    )
    .bind(value)
    .bind(olena)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(hashed, 1);
    let in_clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api.sessions s WHERE strpos(to_jsonb(s)::text, $1) > 0",
    )
    .bind(value)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(in_clear, 0);

    // Secure when configured, or when a TLS proxy says so.
    let secure = TestApp::with(pool.clone(), |s| {
        s.with_logins(LoginSettings {
            secure_cookies: true,
            ..LoginSettings::default()
        })
    })
    .await
    .unwrap();
    let answer = login(&secure, "olena@example.com", password).await;
    assert!(
        set_cookie(&answer).ends_with("; Secure"),
        "{}",
        set_cookie(&answer)
    );
    let answer = login_with(
        &app,
        "olena@example.com",
        password,
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(set_cookie(&answer).contains("Secure"));
}

#[sqlx::test(migrations = false)]
async fn a_manager_changes_his_own_password_with_the_current_one_and_no_one_elses(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let taras = member(&app, "Taras", "taras@example.com", "manager").await;
    let ivan = member(&app, "Ivan", "ivan@example.com", "manager").await;
    let head = member(&app, "Halyna", "halyna@example.com", "head").await;
    let director = member(&app, "Dmytro", "dmytro@example.com", "director").await;
    let (first, second) = ("first-password-1", "second-password-2");
    assert_eq!(
        set_password(&app, ADMIN_TOKEN, taras, first, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let his = token(&app, Some(taras), "manager").await;

    // Another's: refused to a manager and a head, whatever they send; done by a director.
    for actor in [
        token(&app, Some(ivan), "manager").await,
        token(&app, Some(head), "head").await,
    ] {
        let answer = set_password(&app, &actor, taras, "taken-over-123", Some(first)).await;
        problem(&answer, StatusCode::FORBIDDEN, "forbidden");
    }
    let answer = set_password(&app, &his, ivan, "taken-over-123", None).await;
    problem(&answer, StatusCode::FORBIDDEN, "forbidden");
    let by_director = token(&app, Some(director), "director").await;
    let answer = set_password(&app, &by_director, ivan, "ivan-password-1", None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert_eq!(
        login(&app, "ivan@example.com", "ivan-password-1")
            .await
            .status,
        StatusCode::OK
    );

    // His own: only with the current one.
    let answer = set_password(&app, &his, taras, second, None).await;
    problem(&answer, StatusCode::FORBIDDEN, "current_password_required");
    let answer = set_password(&app, &his, taras, second, Some("not-my-password")).await;
    problem(&answer, StatusCode::FORBIDDEN, "current_password_wrong");
    assert_eq!(
        login(&app, "taras@example.com", first).await.status,
        StatusCode::OK
    );

    // Through a session of his: his session goes on, the others end.
    let kept = Browser::log_in(&app, "taras@example.com", first).await;
    let other = Browser::log_in(&app, "taras@example.com", first).await;
    let answer = kept
        .send(
            &app,
            Method::POST,
            &format!("/managers/{taras}/password"),
            Some(&json!({"password": second, "current_password": first})),
            true,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert_eq!(kept.get(&app, "/auth/session").await.status, StatusCode::OK);
    assert_eq!(
        other.get(&app, "/auth/session").await.status,
        StatusCode::UNAUTHORIZED
    );
    problem(
        &login(&app, "taras@example.com", first).await,
        StatusCode::UNAUTHORIZED,
        "login_failed",
    );
    assert_eq!(
        login(&app, "taras@example.com", second).await.status,
        StatusCode::OK
    );

    // Bad input: a clear problem, nothing stored or appended.
    let before = app.event_count().await;
    let no_email = manager(&app, "Nobody").await;
    let gone = inactive_manager(&app).await;
    let appended = app.event_count().await - before;
    let cases: [(Uuid, Value, StatusCode, &str); 7] = [
        (
            // An admin needs no current password, but one over the document's
            // maximum is refused, not ignored.
            taras,
            json!({"password": "a-long-password", "current_password": "x".repeat(1025)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_long",
        ),
        (
            taras,
            json!({"password": "too-short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_short",
        ),
        (
            taras,
            json!({"password": "nul\u{0}-inside-it"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            no_email,
            json!({"password": "a-long-password"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "manager_has_no_email",
        ),
        (
            gone,
            json!({"password": "a-long-password"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "manager_inactive",
        ),
        (
            Uuid::new_v4(),
            json!({"password": "a-long-password"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            taras,
            json!({"password": "a-long-password", "role": "admin"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (id, body, status, code) in cases {
        let answer = app
            .send(
                Method::POST,
                &format!("/managers/{id}/password"),
                Some(ADMIN_TOKEN),
                Some(&body),
                &[],
            )
            .await;
        problem(&answer, status, code);
    }
    assert_eq!(app.event_count().await, before + appended);
    assert_eq!(
        login(&app, "taras@example.com", second).await.status,
        StatusCode::OK
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM api.passwords")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 2, "Taras's and Ivan's");
}

#[sqlx::test(migrations = false)]
async fn writes_with_the_cookie_need_the_csrf_token_and_the_servers_own_origin(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let marta = member(&app, "Marta", "marta@example.com", "manager").await;
    set_password(&app, ADMIN_TOKEN, marta, "marta-password-1", None).await;
    let browser = Browser::log_in(&app, "marta@example.com", "marta-password-1").await;
    let before = app.event_count().await;

    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Forged")),
            false,
            &[],
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf_token_missing");
    let forged = Browser {
        cookie: browser.cookie.clone(),
        csrf: "0".repeat(64),
    };
    let answer = forged
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Forged")),
            true,
            &[],
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf_token_invalid");
    // The token of another session is not this one's.
    let second = Browser::log_in(&app, "marta@example.com", "marta-password-1").await;
    let mixed = Browser {
        cookie: browser.cookie.clone(),
        csrf: second.csrf.clone(),
    };
    let answer = mixed
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Forged")),
            true,
            &[],
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf_token_invalid");
    // A page of another origin, even with the token.
    let cross = [
        ("host", "crm.example:8080"),
        ("origin", "https://evil.example"),
    ];
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Forged")),
            true,
            &cross,
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "cross_origin_request");
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Forged")),
            true,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "cross_origin_request");
    // An Idempotency-Key changes nothing of it.
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Forged")),
            false,
            &[("idempotency-key", "k1")],
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf_token_missing");
    assert_eq!(
        app.event_count().await,
        before,
        "refused writes append nothing"
    );

    // With the token, from the same origin or with none: done, as Marta.
    let own = [
        ("host", "crm.example:8080"),
        ("origin", "http://crm.example:8080"),
    ];
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Real")),
            true,
            &own,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let stream = answer.body["stream"].as_str().unwrap().to_owned();
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Also")),
            true,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let events = app.get(&format!("/streams/{stream}/events")).await;
    assert_eq!(
        events.body["events"][0]["metadata"]["actor"],
        marta.to_string()
    );
    // Reach is hers: a client of another manager is refused as with her token.
    let other = manager(&app, "Other").await;
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(other, "Not mine")),
            true,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);

    // Bearer tokens are unaffected: no CSRF token, whatever the Origin.
    let her_token = token(&app, Some(marta), "manager").await;
    let answer = app
        .send(
            Method::POST,
            "/clients",
            Some(&her_token),
            Some(&client_of(marta, "Program")),
            &cross,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);

    // A login from another origin is refused; from an allowed one it passes.
    let answer = login_with(&app, "marta@example.com", "marta-password-1", &cross).await;
    problem(&answer, StatusCode::FORBIDDEN, "cross_origin_request");
    let allowing = app.another_process(|s| {
        s.with_logins(LoginSettings {
            allowed_origins: vec!["https://evil.example".into()],
            ..LoginSettings::default()
        })
    });
    let answer = login_with(&allowing, "marta@example.com", "marta-password-1", &cross).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Idempotency keys of two people never meet.
    let key = [("idempotency-key", "same-key")];
    let taras = member(&app, "Taras", "taras@example.com", "manager").await;
    set_password(&app, ADMIN_TOKEN, taras, "taras-password-1", None).await;
    let his = Browser::log_in(&app, "taras@example.com", "taras-password-1").await;
    let a = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(marta, "Keyed A")),
            true,
            &key,
        )
        .await;
    let b = his
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(taras, "Keyed B")),
            true,
            &key,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
    assert_ne!(a.body["id"], b.body["id"]);
}

#[sqlx::test(migrations = false)]
async fn an_unknown_email_a_wrong_password_and_an_inactive_manager_answer_alike(pool: PgPool) {
    let app = TestApp::with(pool, |s| {
        s.with_logins(LoginSettings {
            max_failures_per_email: 0,
            max_failures_per_address: 0,
            ..LoginSettings::default()
        })
    })
    .await
    .unwrap();
    let petro = member(&app, "Petro", "petro@example.com", "manager").await;
    let leaving = member(&app, "Leaving", "leaving@example.com", "manager").await;
    for id in [petro, leaving] {
        set_password(&app, ADMIN_TOKEN, id, "right-password-1", None).await;
    }
    let answer = app
        .post(&format!("/managers/{leaving}/deactivate"), &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    let unknown = login(&app, "nobody@example.com", "right-password-1").await;
    let wrong = login(&app, "petro@example.com", "wrong-password-1").await;
    let inactive = login(&app, "leaving@example.com", "right-password-1").await;
    for answer in [&unknown, &wrong, &inactive] {
        problem(answer, StatusCode::UNAUTHORIZED, "login_failed");
        assert!(!answer.headers.contains_key(header::SET_COOKIE));
        assert_eq!(answer.body, unknown.body, "the same problem, word for word");
    }

    // Alike in time too: an unknown email costs a hash like a wrong password (the
    // fastest of a few tries each, so that a busy machine does not decide).
    let fastest = |email: &'static str| {
        let app = app.clone();
        async move {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let started = Instant::now();
                login(&app, email, "wrong-password-1").await;
                best = best.min(started.elapsed());
            }
            best
        }
    };
    let unknown = fastest("nobody@example.com").await;
    let wrong = fastest("petro@example.com").await;
    assert!(
        unknown * 3 > wrong && wrong * 3 > unknown,
        "unknown email {unknown:?}, wrong password {wrong:?}"
    );
}

/// A login request from `address`.
async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> Answer {
    let body = json!({"email": email, "password": password}).to_string();
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let peer: SocketAddr = format!("{address}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    app.send_raw(request).await
}

fn throttled(answer: &Answer) {
    problem(
        answer,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_login_failures",
    );
    let wait: u64 = answer.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&wait), "Retry-After: {wait}");
}

#[sqlx::test(migrations = false)]
async fn repeated_failures_are_slowed_down_per_email_and_per_address(pool: PgPool) {
    let app = TestApp::with(pool, |s| {
        s.with_logins(LoginSettings {
            max_failures_per_email: 3,
            max_failures_per_address: 5,
            failure_window: Duration::from_secs(600),
            ..LoginSettings::default()
        })
    })
    .await
    .unwrap();
    let roman = member(&app, "Roman", "roman@example.com", "manager").await;
    let sofia = member(&app, "Sofia", "sofia@example.com", "manager").await;
    for id in [roman, sofia] {
        set_password(&app, ADMIN_TOKEN, id, "right-password-1", None).await;
    }

    // One email, from several addresses: three failures, then even the right password
    // waits. Another email does not.
    for (n, address) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        let answer = login_from(
            &app,
            address,
            "roman@example.com",
            &format!("guess-{n}-xxxxx"),
        )
        .await;
        problem(&answer, StatusCode::UNAUTHORIZED, "login_failed");
    }
    throttled(&login_from(&app, "10.0.0.4", "ROMAN@example.com", "right-password-1").await);
    let answer = login_from(&app, "10.0.0.4", "sofia@example.com", "right-password-1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Unknown emails are counted the same way.
    for n in 0..3 {
        login_from(
            &app,
            "10.0.0.5",
            "ghost@example.com",
            &format!("guess-{n}-xxxxx"),
        )
        .await;
    }
    throttled(&login_from(&app, "10.0.0.6", "ghost@example.com", "anything-at-all").await);

    // One address, many emails: five failures, then every email from it waits; another
    // address does not.
    for n in 0..5 {
        let answer = login_from(
            &app,
            "192.0.2.7",
            &format!("someone{n}@example.com"),
            "guess-xxxxxx",
        )
        .await;
        problem(&answer, StatusCode::UNAUTHORIZED, "login_failed");
    }
    throttled(&login_from(&app, "192.0.2.7", "sofia@example.com", "right-password-1").await);
    let answer = login_from(&app, "192.0.2.8", "sofia@example.com", "right-password-1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[sqlx::test(migrations = false)]
async fn logout_inactivity_and_deactivation_end_sessions(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let anna = member(&app, "Anna", "anna@example.com", "manager").await;
    set_password(&app, ADMIN_TOKEN, anna, "anna-password-1", None).await;

    // Logout: a write like any other (CSRF token needed), then the cookie is worthless.
    let browser = Browser::log_in(&app, "anna@example.com", "anna-password-1").await;
    let answer = browser
        .send(&app, Method::POST, "/auth/logout", None, false, &[])
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf_token_missing");
    let answer = browser
        .send(&app, Method::POST, "/auth/logout", None, true, &[])
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let cleared = set_cookie(&answer);
    assert!(
        cleared.starts_with("crm_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    problem(
        &browser.get(&app, &format!("/managers/{anna}")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Inactivity: 29 minutes unused still works (and counts as use); 31 do not.
    let browser = Browser::log_in(&app, "anna@example.com", "anna-password-1").await;
    let value = browser.cookie.trim_start_matches("crm_session=").to_owned();
    let idle = |minutes: i32| {
        let (pool, value) = (pool.clone(), value.clone());
        async move {
            sqlx::query(
                "UPDATE api.sessions SET last_seen_at = now() - make_interval(mins => $2) \
                 WHERE session_hash = sha256(convert_to($1, 'UTF8'))",
            )
            .bind(value)
            .bind(minutes)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    idle(29).await;
    assert_eq!(
        browser.get(&app, "/auth/session").await.status,
        StatusCode::OK
    );
    let seen: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - last_seen_at)::float8 FROM api.sessions \
         WHERE session_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&value)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(seen < 60.0, "last seen {seen} s ago");
    idle(31).await;
    assert_eq!(
        browser.get(&app, "/auth/session").await.status,
        StatusCode::UNAUTHORIZED
    );
    // A shorter timeout is a setting.
    let quick = app.another_process(|s| {
        s.with_logins(LoginSettings {
            idle_timeout: Duration::from_secs(1),
            ..LoginSettings::default()
        })
    });
    let browser = Browser::log_in(&quick, "anna@example.com", "anna-password-1").await;
    assert_eq!(
        browser.get(&quick, "/auth/session").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        browser.get(&quick, "/auth/session").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Deactivation: every session of hers ends at once, and she logs in no more.
    let first = Browser::log_in(&app, "anna@example.com", "anna-password-1").await;
    let second = Browser::log_in(&app, "anna@example.com", "anna-password-1").await;
    assert_eq!(
        first.get(&app, "/auth/session").await.status,
        StatusCode::OK
    );
    let answer = app
        .post(&format!("/managers/{anna}/deactivate"), &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    for browser in [&first, &second] {
        problem(
            &browser.get(&app, &format!("/managers/{anna}")).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    problem(
        &login(&app, "anna@example.com", "anna-password-1").await,
        StatusCode::UNAUTHORIZED,
        "login_failed",
    );
}

#[sqlx::test(migrations = false)]
async fn a_sessions_use_is_written_at_most_once_a_minute(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let anna = member(&app, "Anna", "anna@example.com", "manager").await;
    set_password(&app, ADMIN_TOKEN, anna, "anna-password-1", None).await;
    let browser = Browser::log_in(&app, "anna@example.com", "anna-password-1").await;
    let value = browser.cookie.trim_start_matches("crm_session=").to_owned();
    // The stored last use, exactly, and how many seconds ago it is.
    let stored = || {
        let (pool, value) = (pool.clone(), value.clone());
        async move {
            sqlx::query_as::<_, (String, f64)>(
                "SELECT last_seen_at::text, extract(epoch FROM now() - last_seen_at)::float8 \
                 FROM api.sessions WHERE session_hash = sha256(convert_to($1, 'UTF8'))",
            )
            .bind(value)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let session = |answer: Answer| assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Just logged in: two requests in a row leave the stored use as the login wrote it.
    let (at_login, _) = stored().await;
    session(browser.get(&app, "/auth/session").await);
    session(browser.get(&app, "/auth/session").await);
    assert_eq!(stored().await.0, at_login);
    // Five minutes unused: the next request writes its use, the one after it does not.
    sqlx::query(
        "UPDATE api.sessions SET last_seen_at = now() - interval '5 minutes' \
         WHERE session_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&value)
    .execute(&pool)
    .await
    .unwrap();
    let (five_minutes_ago, ago) = stored().await;
    assert!(ago >= 300.0, "{ago}");
    session(browser.get(&app, "/auth/session").await);
    let (written, ago) = stored().await;
    assert_ne!(written, five_minutes_ago);
    assert!(ago < 60.0, "last seen {ago} s ago");
    session(browser.get(&app, "/auth/session").await);
    assert_eq!(stored().await.0, written, "the second request wrote again");
}

#[sqlx::test(migrations = false)]
async fn no_password_reaches_the_log_or_a_read_model(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let projectors = app.start_projectors();
    let yurii = member(&app, "Yurii", "yurii@example.com", "manager").await;
    let (first, second) = ("Zhovtnevyi-Sekret-7781", "Lystopadovyi-Sekret-9902");
    let answer = app
        .send(
            Method::POST,
            &format!("/managers/{yurii}/password"),
            Some(ADMIN_TOKEN),
            Some(&json!({"password": first})),
            &[("idempotency-key", "pw-1")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let his = token(&app, Some(yurii), "manager").await;
    let answer = set_password(&app, &his, yurii, second, Some(first)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let browser = Browser::log_in(&app, "yurii@example.com", second).await;
    let answer = browser
        .send(
            &app,
            Method::POST,
            "/clients",
            Some(&client_of(yurii, "After login")),
            true,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    app.assert_read_models_healthy().await;
    projectors.shutdown().await;

    // Neither password, anywhere in the log or in any table but as a hash.
    for secret in [first, second] {
        let in_log: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM eventlog.events e WHERE strpos(to_jsonb(e)::text, $1) > 0",
        )
        .bind(secret)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(in_log, 0, "{secret} is in the log");
        let tables: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_schema::text, table_name::text FROM information_schema.tables \
             WHERE table_schema IN ('eventlog', 'projections', 'api', 'vault') \
             AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(tables.len() > 10, "{tables:?}");
        for (schema, table) in tables {
            let sql = format!(
                "SELECT count(*) FROM \"{schema}\".\"{table}\" t WHERE strpos(t::text, $1) > 0"
            );
            let found: i64 = sqlx::query_scalar(&sql)
                .bind(secret)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(found, 0, "{secret} is in {schema}.{table}");
        }
    }
    // The log has Yurii's registration and his client, nothing of his passwords.
    let types: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT event_type FROM eventlog.events ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(types, ["ClientRegistered", "ManagerRegistered"]);
}

#[sqlx::test(migrations = false)]
async fn crm_password_set_reads_the_password_from_standard_input(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let oksana = member(&app, "Oksana", "oksana@example.com", "admin").await;
    let log = app.log.clone();
    set_from_reader(&log, oksana, "pershyi-parol-1\n".as_bytes(), "cli:test")
        .await
        .unwrap();
    let browser = Browser::log_in(&app, "oksana@example.com", "pershyi-parol-1").await;
    let set_by: String =
        sqlx::query_scalar("SELECT set_by FROM api.passwords WHERE manager_id = $1")
            .bind(oksana)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(set_by, "cli:test");

    // Set again (a line ending in CRLF too): her sessions end, the new one works.
    set_from_reader(
        &log,
        oksana,
        "druhyi-parol-2\r\nignored".as_bytes(),
        "cli:test",
    )
    .await
    .unwrap();
    assert_eq!(
        browser.get(&app, "/auth/session").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "oksana@example.com", "druhyi-parol-2")
            .await
            .status,
        StatusCode::OK
    );

    // Refusals, each naming the reason; nothing changed.
    let short = set_from_reader(&log, oksana, "short\n".as_bytes(), "cli:test").await;
    assert!(
        matches!(short, Err(PasswordError::TooShort(5))),
        "{short:?}"
    );
    let unknown = Uuid::new_v4();
    let missing = set_from_reader(&log, unknown, "long-enough-1\n".as_bytes(), "cli:test").await;
    assert!(matches!(missing, Err(PasswordError::UnknownManager(id)) if id == unknown));
    let no_email = manager(&app, "Nobody").await;
    let refused = set_from_reader(&log, no_email, "long-enough-1\n".as_bytes(), "cli:test").await;
    assert!(
        matches!(refused, Err(PasswordError::NoEmail(_))),
        "{refused:?}"
    );
    assert_eq!(
        login(&app, "oksana@example.com", "druhyi-parol-2")
            .await
            .status,
        StatusCode::OK
    );
}
