//! English and Ukrainian (the glossary's words, `shared/spec/glossary.md`), money in the
//! deployment's currency and locale, times.

use chrono::{DateTime, Utc};

use super::WebSettings;
use crate::error::ApiError;

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Українська.
    Uk,
}

impl Lang {
    /// The language of a code (`en`, `uk`; `ua` too).
    pub fn parse(code: &str) -> Option<Lang> {
        match code.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "uk" | "ua" => Some(Lang::Uk),
            _ => None,
        }
    }

    /// Its code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Uk => "uk",
        }
    }

    /// The word for `key` (the key itself when there is none).
    pub fn t(self, key: &'static str) -> &'static str {
        match words(key) {
            Some((en, uk)) => match self {
                Lang::En => en,
                Lang::Uk => uk,
            },
            None => key,
        }
    }
}

/// The words, by key: (English, Ukrainian).
fn words(key: &str) -> Option<(&'static str, &'static str)> {
    Some(match key {
        "app" => ("CRM", "CRM"),
        "login_title" => ("Log in", "Увійти"),
        "email" => ("E-mail", "Електронна пошта"),
        "password" => ("Password", "Пароль"),
        "log_in" => ("Log in", "Увійти"),
        "log_out" => ("Log out", "Вийти"),
        "login_failed" => (
            "The e-mail or the password is wrong. Check them and try again.",
            "Неправильна електронна пошта або пароль. Перевірте й спробуйте ще раз.",
        ),
        "login_throttled" => (
            "Too many failed attempts. Wait a few minutes, then try again.",
            "Забагато невдалих спроб. Зачекайте кілька хвилин і спробуйте знову.",
        ),
        "login_error" => (
            "The server could not log you in. Try again in a minute.",
            "Сервер не зміг вас впустити. Спробуйте за хвилину.",
        ),
        "needs_js" => (
            "Logging in needs JavaScript turned on in your browser.",
            "Для входу потрібен увімкнений JavaScript у браузері.",
        ),
        "home" => ("Home", "Головна"),
        "funnel" => ("Funnel", "Воронка продажів"),
        "conversion" => ("Conversion", "Конверсія"),
        "managers" => ("Managers", "Менеджери"),
        "overdue" => ("Overdue", "Прострочене"),
        "loss_reasons" => ("Loss reasons", "Причини відмови"),
        "forecast" => ("Forecast", "Прогноз (зважений)"),
        "revenue" => ("Revenue", "Виручка"),
        "clients" => ("Clients", "Клієнти"),
        "client" => ("Client", "Клієнт"),
        "deals" => ("Deals", "Угоди"),
        "deal" => ("Deal", "Угода"),
        "leads" => ("Leads", "Ліди"),
        "tasks" => ("Tasks", "Завдання"),
        "audit" => ("Audit", "Аудит"),
        "projections" => ("Read models", "Моделі читання"),
        "pipeline" => ("Pipeline", "Воронка продажів"),
        "manager" => ("Manager", "Менеджер"),
        "all_managers" => ("All managers", "Усі менеджери"),
        "department" => ("Department", "Відділ"),
        "all_departments" => ("All departments", "Усі відділи"),
        "as_of" => ("As it stood on", "Станом на"),
        "show" => ("Show", "Показати"),
        "from" => ("From", "З"),
        "to" => ("To (not included)", "До (не включно)"),
        "period" => ("Period", "Період"),
        "custom" => ("Custom", "Власний"),
        "today" => ("Today", "Сьогодні"),
        "yesterday" => ("Yesterday", "Вчора"),
        "this_week" => ("This week", "Цей тиждень"),
        "previous_week" => ("Previous week", "Попередній тиждень"),
        "this_month" => ("This month", "Цей місяць"),
        "previous_month" => ("Previous month", "Попередній місяць"),
        "this_quarter" => ("This quarter", "Цей квартал"),
        "previous_quarter" => ("Previous quarter", "Попередній квартал"),
        "stage" => ("Stage", "Етап"),
        "amount" => ("Amount", "Сума"),
        "open_deals" => ("Open deals", "Відкриті угоди"),
        "open_amount" => ("Open amount", "Сума відкритих"),
        "reached" => ("Reached", "Дійшли"),
        "conversion_from_previous" => ("From previous", "Від попереднього"),
        "cohort" => ("Cohort", "Когорта"),
        "won" => ("Won", "Виграні"),
        "lost" => ("Lost", "Програні"),
        "open" => ("Open", "Відкриті"),
        "win_rate" => ("Win rate", "Частка виграних"),
        "conversion_to_won" => ("Conversion to won", "Конверсія у виграні"),
        "reason" => ("Loss reason", "Причина відмови"),
        "month" => ("Month", "Місяць"),
        "weighted_amount" => ("Weighted", "Зважена сума"),
        "key" => ("Group", "Група"),
        "by" => ("By", "За"),
        "by_manager" => ("Manager", "Менеджер"),
        "by_source" => ("Source", "Джерело"),
        "by_pipeline" => ("Pipeline", "Воронка продажів"),
        "by_client" => ("Client", "Клієнт"),
        "name" => ("Name", "Назва"),
        "calls" => ("Calls", "Дзвінки"),
        "calls_outbound" => ("Outbound calls", "Вихідні дзвінки"),
        "calls_inbound" => ("Inbound calls", "Вхідні дзвінки"),
        "call_seconds" => ("Minutes of conversation", "Хвилини розмов"),
        "calls_with_goal" => ("Calls with a goal", "Дзвінки з метою"),
        "calls_goal_reached" => ("Calls that reached their goal", "Дзвінки з досягнутою метою"),
        "meetings" => ("Meetings", "Зустрічі"),
        "emails" => ("E-mails", "Листи"),
        "messages" => ("Messages", "Повідомлення"),
        "clients_contacted" => ("Clients contacted", "Клієнтів охоплено"),
        "calls_per_client" => ("Calls per client", "Дзвінків на клієнта"),
        "leads_assigned" => ("Leads assigned", "Лідів призначено"),
        "leads_converted" => ("Leads converted", "Лідів конвертовано"),
        "leads_rejected" => ("Leads rejected", "Лідів відхилено"),
        "deals_opened" => ("Deals opened", "Угод відкрито"),
        "deals_won" => ("Deals won", "Угод виграно"),
        "deals_lost" => ("Deals lost", "Угод програно"),
        "won_amount" => ("Won amount", "Виграна сума"),
        "tasks_completed" => ("Tasks done", "Завдань виконано"),
        "tasks_completed_late" => ("Tasks done late", "Виконано із запізненням"),
        "title" => ("Title", "Назва"),
        "due_at" => ("Due date", "Термін"),
        "overdue_for" => ("Overdue by", "Прострочено на"),
        "expected_close_on" => ("Expected close date", "Очікувана дата закриття"),
        "days_overdue" => ("Days overdue", "Днів прострочено"),
        "received_at" => ("Received", "Отримано"),
        "waiting" => ("Waiting", "Очікує"),
        "source" => ("Source", "Джерело"),
        "status" => ("Status", "Стан"),
        "owner" => ("Owner", "Відповідальний"),
        "history" => ("History of events", "Історія подій"),
        "when" => ("When", "Коли"),
        "who" => ("Who", "Хто"),
        "event" => ("Event", "Подія"),
        "details" => ("Details", "Подробиці"),
        "search" => ("Search", "Пошук"),
        "segment" => ("Segment", "Сегмент"),
        "all_segments" => ("All segments", "Усі сегменти"),
        "active" => ("Active", "Активні"),
        "churned" => ("Churned", "Втрачені"),
        "inquiry" => ("Inquiry", "Запити"),
        "next_page" => ("Next page", "Наступна сторінка"),
        "previous_page" => ("Previous page", "Попередня сторінка"),
        "last_page" => ("Last page", "Остання сторінка"),
        "page" => ("Page", "Сторінка"),
        "pages" => ("Pages", "Сторінки"),
        "all_overdue" => ("All overdue work", "Усе прострочене"),
        "overdue_by_manager" => ("Overdue by manager", "Прострочене за менеджерами"),
        "overdue_by_department" => ("Overdue by department", "Прострочене за відділами"),
        "first_page" => ("First page", "Перша сторінка"),
        "contacts" => ("Contacts", "Контактні особи"),
        "phone" => ("Phone", "Телефон"),
        "timeline" => ("Timeline", "Хронологія"),
        "interactions" => ("Interactions", "Взаємодії"),
        "last_interaction_at" => ("Last interaction", "Остання взаємодія"),
        "last_won_at" => ("Last win", "Останній виграш"),
        "kind" => ("Kind", "Вид"),
        "region" => ("Region", "Регіон"),
        "industry" => ("Industry", "Галузь"),
        "all_statuses" => ("All statuses", "Усі стани"),
        "completed" => ("Completed", "Виконані"),
        "cancelled" => ("Cancelled", "Скасовані"),
        "new" => ("New", "Нові"),
        "assigned" => ("Assigned", "Призначені"),
        "converted" => ("Converted", "Конвертовані"),
        "rejected" => ("Rejected", "Відхилені"),
        "verification" => ("Verification", "Перевірка цілісності"),
        "chains_ok" => (
            "The hash chains and seals are intact.",
            "Ланцюжки хешів і печатки цілі.",
        ),
        "chains_bad" => (
            "The log has been tampered with: see the first bad event.",
            "Журнал змінено: дивіться першу пошкоджену подію.",
        ),
        "streams_checked" => ("Streams checked", "Перевірено потоків"),
        "events_checked" => ("Events checked", "Перевірено подій"),
        "seals_checked" => ("Seals checked", "Перевірено печаток"),
        "events_sealed" => ("Events sealed", "Запечатано подій"),
        "unsealed_events" => ("Events not sealed yet", "Ще не запечатано"),
        "last_seal" => ("Last seal", "Остання печатка"),
        "not_verified_yet" => (
            "The log has not been verified yet: the server verifies it at start, or verify it now.",
            "Журнал ще не перевірено: сервер перевіряє його під час запуску, або перевірте зараз.",
        ),
        "verified_at" => ("Verified at", "Перевірено"),
        "verification_took" => ("Took", "Тривала"),
        "verified_by" => ("Started by", "Запущено"),
        "through_position" => ("Covered up to position", "Охоплено до позиції"),
        "verify_now" => ("Verify now", "Перевірити зараз"),
        "trigger_start" => ("the server's start", "запуск сервера"),
        "trigger_periodic" => ("the background check", "фонова перевірка"),
        "trigger_on_demand" => ("a person (verify now)", "людина (перевірити зараз)"),
        "trigger_api" => ("the API (GET /audit/verify)", "API (GET /audit/verify)"),
        "stream_browser" => ("Stream browser", "Перегляд потоків"),
        "stream" => ("Stream (e.g. deal-…)", "Потік (напр. deal-…)"),
        "export" => ("Export", "Експорт"),
        "lag_events" => ("Events behind", "Відставання, подій"),
        "events_applied" => ("Events applied", "Застосовано подій"),
        "rows" => ("Rows", "Рядки"),
        "last_error" => ("Last error", "Остання помилка"),
        "your_overdue_tasks" => ("Your overdue tasks", "Ваші прострочені завдання"),
        "waiting_leads" => ("Leads waiting past the SLA", "Ліди, що чекають понад норму"),
        "overdue_deals" => (
            "Deals past their expected close",
            "Угоди після очікуваної дати закриття",
        ),
        "overdue_tasks" => ("Overdue tasks", "Прострочені завдання"),
        "no_pipelines" => (
            "No pipelines yet: an admin defines one first.",
            "Ще немає воронок: спершу адміністратор має її створити.",
        ),
        "no_deals_in_pipeline" => (
            "No open deals in this pipeline.",
            "У цій воронці немає відкритих угод.",
        ),
        "no_managers" => (
            "No managers in reach for this period.",
            "Немає менеджерів у межах доступу.",
        ),
        "no_losses" => (
            "No deals were lost in this period.",
            "У цьому періоді немає програних угод.",
        ),
        "no_forecast" => (
            "No open deals with an expected close date.",
            "Немає відкритих угод з очікуваною датою закриття.",
        ),
        "no_revenue" => (
            "No deals were won in this period.",
            "У цьому періоді немає виграних угод.",
        ),
        "no_overdue_tasks" => (
            "No overdue tasks. Well done.",
            "Прострочених завдань немає.",
        ),
        "no_overdue_deals" => (
            "No deals past their expected close date.",
            "Немає угод після очікуваної дати закриття.",
        ),
        "no_waiting_leads" => (
            "No leads waiting past the SLA.",
            "Немає лідів, що чекають понад норму.",
        ),
        "no_clients" => (
            "No clients match: change the search or the segment.",
            "Немає клієнтів за цим пошуком: змініть пошук чи сегмент.",
        ),
        "no_leads" => (
            "No leads match these filters.",
            "Немає лідів за цими фільтрами.",
        ),
        "no_tasks" => (
            "No tasks match these filters.",
            "Немає завдань за цими фільтрами.",
        ),
        "no_deals" => (
            "No deals match these filters.",
            "Немає угод за цими фільтрами.",
        ),
        "no_events" => ("No events yet.", "Подій ще немає."),
        "no_cohort" => (
            "No deals were opened in this pipeline in this period.",
            "У цьому періоді в цій воронці не відкрито угод.",
        ),
        "live" => ("Updates live", "Оновлюється наживо"),
        "skip" => ("Skip to the content", "Перейти до вмісту"),
        "menu" => ("Menu", "Меню"),
        "role_manager" => ("manager", "менеджер"),
        "role_head" => ("head of sales", "керівник відділу продажів"),
        "role_director" => ("director", "директор"),
        "role_admin" => ("admin", "адміністратор"),
        "role_auditor" => ("auditor", "аудитор"),
        "role_analyst" => ("analyst", "аналітик"),
        "new_projection" => ("Define a custom projection", "Створити власну проєкцію"),
        "new_projection_intro" => (
            "Name it, describe in JSON which events it counts, how it groups them and what it measures. The server builds it from the whole log, then keeps it live.",
            "Дайте назву й опишіть у JSON, які події вона рахує, як групує та що вимірює. Сервер побудує її з усього журналу й оновлюватиме наживо.",
        ),
        "custom_projection" => ("Custom projection", "Власна проєкція"),
        "automation" => ("Automation", "Автоматизація"),
        "automation_intro" => (
            "Rules act on their own on what is recorded after they are defined: they hand out leads, set tasks and remind. What they do is in the log like any command, marked as the automation's.",
            "Правила діють самі на те, що записано після їх створення: розподіляють ліди, ставлять завдання й нагадують. Усе, що вони роблять, потрапляє в журнал, як будь-яка команда, з позначкою автоматизації.",
        ),
        "rules" => ("Rules", "Правила"),
        "no_rules" => (
            "No rules yet: define the first one below.",
            "Правил ще немає: створіть перше нижче.",
        ),
        "rules_more" => (
            "Only the first 1,000 rules are shown.",
            "Показано лише перші 1000 правил.",
        ),
        "rule_kind" => ("What it does", "Що робить"),
        "rule_params" => ("Settings", "Налаштування"),
        "rule_enabled" => ("acts", "діє"),
        "rule_disabled" => ("disabled", "вимкнено"),
        "actions" => ("Actions", "Дії"),
        "disable_rule" => ("Disable", "Вимкнути"),
        "define_rule" => ("Define a rule", "Створити правило"),
        "rule_kinds" => ("The kinds of rules and their settings", "Види правил та їхні налаштування"),
        "params_not_json" => (
            "The settings are not valid JSON",
            "Налаштування — не коректний JSON",
        ),
        "rule_lead_round_robin" => ("Hand out new leads", "Розподіл нових лідів"),
        "rule_task_on_stage" => ("A task when a deal reaches a stage", "Завдання, коли угода потрапляє на етап"),
        "rule_lead_sla" => ("Unanswered lead alarm", "Тривога про лід без відповіді"),
        "rule_follow_up_after_win" => ("A follow-up after a win", "Повторний контакт після виграшу"),
        "rule_task_reminder" => ("Task reminders", "Нагадування про завдання"),
        "rule_help_lead_round_robin" => (
            "a lead captured without a manager goes to the department's next active manager (round_robin, in order of registration) or to the one with the least open work (least_busy).",
            "лід без менеджера отримує наступний активний менеджер відділу (round_robin, за порядком реєстрації) або найменш завантажений (least_busy).",
        ),
        "rule_help_task_on_stage" => (
            "when a deal enters the stage, its manager gets a task due that many hours later.",
            "коли угода потрапляє на етап, її менеджер отримує завдання зі строком через стільки годин.",
        ),
        "rule_help_lead_sla" => (
            "a lead nobody answered that many minutes after it came in is marked as breached, and the head of its manager's department gets a task.",
            "лід, на який ніхто не відповів за стільки хвилин, позначається як прострочений, а керівник відділу його менеджера отримує завдання.",
        ),
        "rule_help_follow_up_after_win" => (
            "a won deal's manager gets a task that many days after the win.",
            "менеджер виграної угоди отримує завдання через стільки днів після виграшу.",
        ),
        "rule_help_task_reminder" => (
            "the assignee of an open task is reminded that many minutes before it is due.",
            "виконавцю відкритого завдання нагадують за стільки хвилин до строку.",
        ),
        "projection_name" => ("Name", "Назва"),
        "projection_name_hint" => (
            "1–48 lowercase Latin letters, digits or _, starting with a letter.",
            "1–48 малих латинських літер, цифр або _, починаючи з літери.",
        ),
        "definition" => ("Definition (JSON)", "Визначення (JSON)"),
        "define" => ("Define", "Створити"),
        "redefine" => ("Save the new definition", "Зберегти нове визначення"),
        "refused" => ("Not saved:", "Не збережено:"),
        "definition_not_json" => (
            "The definition is not valid JSON",
            "Визначення — не коректний JSON",
        ),
        "definition_not_object" => (
            "The definition must be a JSON object: { … }.",
            "Визначення має бути об'єктом JSON: { … }.",
        ),
        "text_line" => ("line", "рядок"),
        "text_column" => ("column", "позиція"),
        "legend" => ("The fields of a definition", "Поля визначення"),
        "legend_event_types" => (
            "the events it counts, e.g. [\"InteractionLogged\"].",
            "події, які вона рахує, напр. [\"InteractionLogged\"].",
        ),
        "legend_filters" => (
            "optional: [{field, op, value}], all must hold; op is one of",
            "необов'язково: [{field, op, value}], мають виконуватися всі; op — одне з",
        ),
        "legend_group_by" => (
            "optional: the row's keys, [{name, field}] or [{name, bucket, time_zone}] with bucket one of",
            "необов'язково: ключі рядка, [{name, field}] або [{name, bucket, time_zone}], де bucket — одне з",
        ),
        "legend_measures" => (
            "[{name, fn, field}], fn one of",
            "[{name, fn, field}], де fn — одне з",
        ),
        "legend_fields_title" => ("Fields", "Поля"),
        "legend_fields" => (
            "client, deal and manager as they stood right after the event. Personal data (names, phones, e-mails) is refused.",
            "клієнт, угода й менеджер — такими, якими вони були одразу після події. Персональні дані (імена, телефони, пошта) не дозволені.",
        ),
        "state" => ("State", "Стан побудови"),
        "state_building" => ("being built", "будується"),
        "state_live" => ("live", "працює"),
        "state_rebuilding" => (
            "live, a new definition being built beside it",
            "працює, поруч будується нове визначення",
        ),
        "live_generation" => ("Generation answering", "Покоління, що відповідає"),
        "building_generation" => ("Generation being built", "Покоління, що будується"),
        "events" => ("events", "подій"),
        "defined_at" => ("Defined", "Визначено"),
        "defined_by" => ("Defined by", "Ким визначено"),
        "column" => ("Column", "Стовпець"),
        "comparison" => ("Comparison", "Порівняння"),
        "value" => ("Value", "Значення"),
        "order" => ("Order by", "Сортувати за"),
        "by_keys" => ("the keys", "ключами"),
        "per_page" => ("Rows per page", "Рядків на сторінці"),
        "projection_not_ready" => (
            "Its rows are not ready yet: this page shows them once the build has caught up.",
            "Рядки ще не готові: сторінка покаже їх, щойно побудова наздожене журнал.",
        ),
        "no_rows" => (
            "No rows: no event matched yet, or none matches this filter.",
            "Рядків немає: жодна подія ще не підійшла або жодна не відповідає фільтру.",
        ),
        "export_intro" => (
            "The log as a file, with the filters you choose (every event when none).",
            "Журнал у файлі з вибраними фільтрами (усі події, якщо фільтрів немає).",
        ),
        "format" => ("Format", "Формат"),
        "event_types" => ("Event types", "Типи подій"),
        "stream_kind" => ("Kind of stream", "Вид потоку"),
        "all_streams" => ("All kinds", "Усі види"),
        "download" => ("Download", "Завантажити"),
        "figure" => ("Figure", "Показник"),
        "events_behind" => ("The events behind the figure", "Події, з яких складається показник"),
        "stream_word" => ("Stream", "Потік"),
        "no_figure_events" => (
            "No events make this figure in this period.",
            "У цьому періоді немає подій для цього показника.",
        ),
        "explain_count" => (
            "Each event below counts once in the figure.",
            "Кожна подія нижче враховується в показнику один раз.",
        ),
        "explain_responsible" => (
            "Each event below counts once, for the manager responsible at the time of the event.",
            "Кожна подія нижче враховується один раз — для менеджера, відповідального на момент події.",
        ),
        "explain_call_seconds" => (
            "The calls below: the figure sums their durations.",
            "Дзвінки нижче: показник — сума їхньої тривалості.",
        ),
        "explain_clients_contacted" => (
            "The first interaction with each client in the period: one per client counted.",
            "Перша взаємодія з кожним клієнтом у періоді: по одній на кожного врахованого клієнта.",
        ),
        "explain_calls_per_client" => (
            "The calls with a client: the figure divides their number by the distinct clients among them.",
            "Дзвінки клієнтам: показник ділить їхню кількість на кількість різних клієнтів серед них.",
        ),
        "explain_calls_with_goal" => (
            "The calls below carry a goal (a goal or whether it was reached was given): each counts once.",
            "Дзвінки нижче мають мету (вказано мету або чи її досягнуто): кожен враховується один раз.",
        ),
        "explain_calls_goal_reached" => (
            "The calls below reached their goal (goal reached: yes): each counts once.",
            "Дзвінки нижче досягли своєї мети (мету досягнуто: так): кожен враховується один раз.",
        ),
        "explain_won_amount" => (
            "The wins below: the figure sums the amounts they recorded.",
            "Виграші нижче: показник — сума, зафіксована в них.",
        ),
        "explain_win_rate" => (
            "The wins and losses below: the figure is wins / (wins + losses).",
            "Виграші й програші нижче: показник — виграні / (виграні + програні).",
        ),
        "yes" => ("yes", "так"),
        "no" => ("no", "ні"),
        "my_day" => ("My day", "Мій день"),
        "day_of" => ("A manager's day", "День менеджера"),
        "open_day" => ("day", "день"),
        "date" => ("Date", "Дата"),
        "client_card" => ("Client card", "Картка клієнта"),
        "day_prospects" => ("New prospects", "Нові потенційні клієнти"),
        "day_clients" => (
            "Working clients, largest open amount first",
            "Клієнти в роботі, найбільша сума відкритих угод спершу",
        ),
        "day_tails" => ("Tails of calls", "Хвости дзвінків"),
        "no_day_prospects" => (
            "No new prospects: every lead of yours has been answered, converted or rejected.",
            "Нових потенційних клієнтів немає: кожен ваш лід уже має відповідь, конвертований або відхилений.",
        ),
        "no_day_clients" => (
            "No working clients: none of your clients has an open deal.",
            "Клієнтів у роботі немає: жоден ваш клієнт не має відкритої угоди.",
        ),
        "no_day_tails" => (
            "No tails: no call task of yours due that day or the day before is waiting for its call.",
            "Хвостів немає: жодне ваше завдання-дзвінок на цей або попередній день не чекає на дзвінок.",
        ),
        "no_day_yet" => (
            "Your day is not ready yet: your registration is still being recorded. Reload in a moment.",
            "Ваш день ще не готовий: реєстрація ще записується. Оновіть сторінку за мить.",
        ),
        "plans" => ("Plans", "Плани"),
        "plan_of_month" => ("Plans of the month", "Плани на місяць"),
        "target" => ("target", "план"),
        "actual" => ("actual", "факт"),
        "percent_done" => ("%", "%"),
        "no_plans" => (
            "No plans for this month: none was set for a manager you see.",
            "Планів на цей місяць немає: жодному менеджерові у вашому полі зору план не встановлено.",
        ),
        "plans_need_month" => (
            "Choose a whole month (this month, the previous one) to see the plans beside the figures.",
            "Оберіть цілий місяць (цей або попередній), щоб побачити плани поруч із показниками.",
        ),
        "duplicates" => ("Duplicates", "Дублікати"),
        "duplicate_groups" => ("Likely duplicate clients", "Ймовірні дублікати клієнтів"),
        "no_duplicates" => (
            "No likely duplicates: no two clients you see share a phone, an e-mail or a name.",
            "Ймовірних дублікатів немає: жодні два клієнти у вашому полі зору не мають спільного телефону, пошти чи назви.",
        ),
        "match_phone" => ("Same phone", "Однаковий телефон"),
        "match_email" => ("Same e-mail", "Однакова пошта"),
        "match_name" => ("Same name", "Однакова назва"),
        "merge_into" => ("Merge into", "Об'єднати з"),
        "merge" => ("Merge", "Об'єднати"),
        "unmerge" => ("Undo the merge", "Скасувати об'єднання"),
        "merged_into" => ("Merged into", "Об'єднано з"),
        "explain_merge" => (
            "Merging keeps the survivor: the merged client's deals, interactions, tasks and leads count for it; the merge can be undone from the merged client's card.",
            "Після об'єднання лишається основний клієнт: угоди, взаємодії, завдання й ліди об'єднаного рахуються йому; об'єднання можна скасувати з картки об'єднаного клієнта.",
        ),
        "by_product" => ("By product", "За продуктом"),
        "by_category" => ("By category", "За категорією"),
        "by_novelty" => ("New or repeat", "Нові чи повторні"),
        "by_first_contact" => ("By first contact", "За першим контактом"),
        _ => return None,
    })
}

/// The title and what to do next for an error, in words a manager understands.
pub fn explain(lang: Lang, err: &ApiError) -> (&'static str, &'static str) {
    let status = err.status().as_u16();
    let uk = lang == Lang::Uk;
    match status {
        400 => {
            if uk {
                (
                    "Щось не так із фільтрами",
                    "Перевірте дати й вибране у формі та спробуйте ще раз.",
                )
            } else {
                (
                    "Something is wrong with the filters",
                    "Check the dates and choices in the form, then try again.",
                )
            }
        }
        401 => {
            if uk {
                ("Потрібно увійти", "Увійдіть знову: ваш сеанс завершився.")
            } else {
                ("Please log in", "Log in again: your session has ended.")
            }
        }
        403 => {
            if uk {
                ("Це поза вашим доступом", "Ця сторінка чи запис належить іншому менеджеру або ролі. Поверніться на головну.")
            } else {
                ("This is outside what you may see", "This page or record belongs to another manager or role. Go back to your home page.")
            }
        }
        404 => {
            if uk {
                (
                    "Не знайдено",
                    "Такого запису немає: можливо, посилання застаріло. Поверніться до списку.",
                )
            } else {
                (
                    "Not found",
                    "There is no such record: the link may be old. Go back to the list.",
                )
            }
        }
        503 => {
            if uk {
                (
                    "Дані ще оновлюються",
                    "Сервер надто зайнятий або база недоступна. Оновіть сторінку за хвилину.",
                )
            } else {
                ("The figures are being updated", "The server is busy or its database is unreachable. Reload the page in a minute.")
            }
        }
        _ => {
            if uk {
                ("Сталася помилка на сервері", "Це не ваша вина. Оновіть сторінку; якщо не допоможе — повідомте адміністратора.")
            } else {
                ("Something went wrong on the server", "It is not your fault. Reload the page; if that does not help, tell your admin.")
            }
        }
    }
}

/// How money is written: the currency and the locale's separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// The currency's code.
    pub currency: String,
    /// Its symbol (the code when we know none).
    pub symbol: String,
    /// The locale: Ukrainian (`1 234,56 ₴`) or English (`₴1,234.56`).
    pub ukrainian: bool,
}

impl Money {
    /// The format of `settings`.
    pub fn new(settings: &WebSettings) -> Self {
        let currency = settings.currency.trim().to_ascii_uppercase();
        let symbol = match currency.as_str() {
            "UAH" => "₴",
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "PLN" => "zł",
            other => other,
        }
        .to_owned();
        Money {
            currency,
            symbol,
            ukrainian: settings
                .locale
                .trim()
                .to_ascii_lowercase()
                .starts_with("uk"),
        }
    }

    /// `minor` units written as money: `1 234,56 ₴` or `₴1,234.56`.
    pub fn format(&self, minor: i128) -> String {
        let negative = minor < 0;
        let abs = minor.unsigned_abs();
        let (major, cents) = (abs / 100, abs % 100);
        let (group, decimal) = if self.ukrainian {
            ('\u{202F}', ',')
        } else {
            (',', '.')
        };
        let digits = major.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(group);
            }
            grouped.push(c);
        }
        let sign = if negative { "−" } else { "" };
        if self.ukrainian {
            format!("{sign}{grouped}{decimal}{cents:02}\u{00A0}{}", self.symbol)
        } else {
            format!("{sign}{}{grouped}{decimal}{cents:02}", self.symbol)
        }
    }

    /// A plain number in the locale (`1 234` or `1,234`).
    pub fn number(&self, n: i128) -> String {
        let group = if self.ukrainian { '\u{202F}' } else { ',' };
        let digits = n.unsigned_abs().to_string();
        let mut s = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                s.push(group);
            }
            s.push(c);
        }
        if n < 0 {
            format!("−{s}")
        } else {
            s
        }
    }
}

/// A ratio (0..1) as a percentage with one decimal; a dash for none.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

/// A time as `2026-03-01 09:30 UTC`.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A duration in seconds as `3 d 4 h` / `2 h 5 min` / `7 min`.
pub fn span(lang: Lang, seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    let (dw, hw, mw) = match lang {
        Lang::En => ("d", "h", "min"),
        Lang::Uk => ("д", "год", "хв"),
    };
    if d > 0 {
        format!("{d} {dw} {h} {hw}")
    } else if h > 0 {
        format!("{h} {hw} {m} {mw}")
    } else {
        format!("{m} {mw}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_in_the_locale() {
        let uk = Money::new(&WebSettings::default());
        assert_eq!(
            uk.format(123_456_789),
            "1\u{202F}234\u{202F}567,89\u{00A0}₴"
        );
        assert_eq!(uk.format(5), "0,05\u{00A0}₴");
        let en = Money::new(&WebSettings {
            currency: "usd".into(),
            locale: "en".into(),
        });
        assert_eq!(en.format(123_456_789), "$1,234,567.89");
        assert_eq!(en.format(-100), "−$1.00");
        assert_eq!(en.number(1234), "1,234");
        assert_eq!(uk.number(1234), "1\u{202F}234");
    }
}
