//! Every error is a problem+json document with a `code` (issue 13): a path no route
//! serves (404 `not_found`), a method a route does not serve (405
//! `method_not_allowed`, its `Allow` header kept), and the layers' own refusals.

use axum::http::{header, Method, StatusCode};
use crm_tests::scenario::send_text;
use crm_tests::{Answer, TestApp};
use sqlx::PgPool;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn is_problem(answer: &Answer, status: StatusCode, code: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{what}: {answer:?}"
    );
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    assert_eq!(answer.body["status"], status.as_u16(), "{what}");
    assert_eq!(answer.body["type"], format!("/problems/{code}"), "{what}");
    assert!(
        !answer.body["detail"].as_str().unwrap().is_empty(),
        "{what}"
    );
}

#[sqlx::test(migrations = false)]
async fn an_unknown_route_and_a_wrong_method_answer_problems(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    // (`/` is the web app's login page: api.md "The web app".)
    for path in [
        "/nope",
        "/clients/",
        "/clients/00000000-0000-0000-0000-000000000000/nope",
        "/reports",
        "/streams/x/y/z",
        "/%FF%FE",
    ] {
        for method in METHODS {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let answer = send_text(&app, method.clone(), path, None, &[]).await;
            is_problem(
                &answer,
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{method} {path}"),
            );
            assert!(
                answer.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("route {method} {path}")),
                "{answer:?}"
            );
        }
    }
    // Without a token too: no route is no route.
    let answer = app.send(Method::GET, "/nope", None, None, &[]).await;
    is_problem(&answer, StatusCode::NOT_FOUND, "not_found", "anonymous");

    // Every documented path, asked with each method it does not serve.
    let doc = app.openapi().await;
    let mut asked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{stream}", "client-00000000-0000-0000-0000-000000000000")
            .replace("{name}", "no_such_projection");
        let served: Vec<&str> = METHODS
            .into_iter()
            .filter(|m| item.get(m.to_lowercase()).is_some())
            .collect();
        for method in METHODS.into_iter().filter(|m| !served.contains(m)) {
            let answer = send_text(
                &app,
                Method::from_bytes(method.as_bytes()).unwrap(),
                &path,
                Some("{}"),
                &[],
            )
            .await;
            let what = format!("{method} {path}");
            is_problem(
                &answer,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &what,
            );
            let allow = answer.headers[header::ALLOW].to_str().unwrap();
            for method in &served {
                assert!(allow.contains(method), "{what}: Allow {allow}");
            }
            asked += 1;
        }
    }
    assert!(asked > 50, "{asked}");
}

#[sqlx::test(migrations = false)]
async fn the_layers_refusals_are_problems(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    // The body limit, through the idempotency layer, which reads the body itself.
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    for headers in [vec![], vec![("idempotency-key", "k-1")]] {
        let answer = send_text(&app, Method::POST, "/clients", Some(&huge), &headers).await;
        is_problem(
            &answer,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "huge",
        );
    }
    // Malformed query, path and header values.
    for (path, headers, code) in [
        ("/clients?limit=many", vec![], "invalid_query"),
        ("/clients?unknown=1", vec![], "invalid_query"),
        ("/deals/not-a-uuid", vec![], "invalid_path"),
        (
            "/projections/x/rows?min_position=soon",
            vec![],
            "invalid_query",
        ),
        (
            "/clients",
            vec![("authorization", "Basic abc")],
            "unauthorized",
        ),
    ] {
        let answer = if headers.is_empty() {
            send_text(&app, Method::GET, path, None, &[]).await
        } else {
            let mut request = axum::http::Request::builder().uri(path);
            for (name, value) in &headers {
                request = request.header(*name, *value);
            }
            app.send_raw(request.body(axum::body::Body::empty()).unwrap())
                .await
        };
        let status = if code == "unauthorized" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        is_problem(&answer, status, code, path);
    }
    // A command's body that is not JSON.
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/clients")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", crm_tests::ADMIN_TOKEN),
        )
        .header(header::CONTENT_TYPE, "text/plain")
        .body(axum::body::Body::from("name=Acme"))
        .unwrap();
    let answer = app.send_raw(request).await;
    is_problem(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "text/plain",
    );
}
