#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;
use crate::events::{DealWon, EVENT_TYPES};
use crate::testing::*;

/// The event types and payload fields as the event log's contract fixes them (the list
/// of docs/api.md, less the later additions).
const SPEC: &str = "
- ManagerRegistered `{manager_id, name, email?, department, role}` · ManagerDeactivated `{manager_id}`
- PipelineDefined `{pipeline_id, name, stages: [{stage_id, name, probability}]}`
- ClientRegistered `{client_id, name, kind, size?, industry?, region?, source?, manager_id, contacts}` ·
  ClientUpdated `{client_id, changes}` · ClientReassigned `{client_id, from_manager_id, to_manager_id}`
- LeadCaptured `{lead_id, source, channel?, name, phone?, email?, client_id?, received_at}` ·
  LeadAssigned `{lead_id, manager_id}` · LeadConverted `{lead_id, client_id, deal_id}` ·
  LeadRejected `{lead_id, reason}`
- DealOpened `{deal_id, client_id, pipeline_id, stage_id, title, amount, manager_id, source?, expected_close_on?, lead_id?}` ·
  DealStageChanged `{deal_id, from_stage_id, to_stage_id}` · DealAmountChanged `{deal_id, from, to}` ·
  DealReassigned `{deal_id, from_manager_id, to_manager_id}` · DealWon `{deal_id, amount}` ·
  DealLost `{deal_id, reason, comment?}` · DealReopened `{deal_id, stage_id}`
- InteractionLogged `{interaction_id, kind, direction, manager_id, client_id?, deal_id?, lead_id?, duration_s?, outcome?, goal?, notes?}`
- TaskScheduled `{task_id, title, kind, assignee_id, due_at, client_id?, deal_id?, co_executor_ids, observer_ids}` ·
  TaskRescheduled `{task_id, from_due_at, to_due_at}` · TaskReassigned `{task_id, from_assignee_id, to_assignee_id}` ·
  TaskCompleted `{task_id, result?}` · TaskCancelled `{task_id, reason?}`
";

/// (type, top-level fields with `?` removed), parsed from [`SPEC`].
fn spec_fields() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = SPEC;
    while let Some(open) = rest.find("`{") {
        let name = rest[..open]
            .split(|c: char| !c.is_alphanumeric())
            .rfind(|w| !w.is_empty())
            .unwrap()
            .to_owned();
        let body_start = open + 2;
        let close = body_start + rest[body_start..].find("}`").unwrap();
        let body = &rest[body_start..close];
        // Drop nested lists like `stages: [{…}]`: keep the name before the colon.
        let mut fields = Vec::new();
        let mut depth = 0;
        let mut current = String::new();
        for ch in body.chars() {
            match ch {
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                ',' if depth == 0 => fields.push(std::mem::take(&mut current)),
                _ if depth == 0 => current.push(ch),
                _ => {}
            }
        }
        fields.push(current);
        let fields = fields
            .iter()
            .map(|f| {
                f.split(':')
                    .next()
                    .unwrap()
                    .trim()
                    .trim_end_matches('?')
                    .to_owned()
            })
            .collect();
        out.push((name, fields));
        rest = &rest[close + 2..];
    }
    out
}

#[test]
fn every_spec_type_is_an_event_type_and_back() {
    let spec: Vec<String> = spec_fields().into_iter().map(|(t, _)| t).collect();
    assert_eq!(spec.len(), 23);
    // The spec's business events, then the three of the analysts' custom projection
    // definitions (issue 5), the record of an export and the two erasures of
    // personal data (issue 6), which the spec's list predates, then the automation's
    // rules and the two events its deadlines append (issue 17), then the sales
    // department's business (issue 18).
    assert_eq!(spec, EVENT_TYPES[..23].to_vec());
    assert_eq!(
        EVENT_TYPES[23..],
        [
            "ProjectionDefined",
            "ProjectionRedefined",
            "ProjectionDropped",
            "DataExported",
            "ClientErased",
            "LeadErased",
            "RuleDefined",
            "RuleDisabled",
            "LeadSlaBreached",
            "TaskReminderDue",
            "ProductDefined",
            "DealLineAdded",
            "DealLineRemoved",
            "InvoiceIssued",
            "PaymentReceived",
            "ShipmentSent",
            "PlanSet",
            "ClientMerged",
            "ClientUnmerged"
        ]
    );
    let sampled: Vec<&str> = every_event().iter().map(|e| e.event_type()).collect();
    assert_eq!(
        sampled,
        EVENT_TYPES.to_vec(),
        "one sample of each type, in order"
    );
}

#[test]
fn json_field_names_are_the_specs_literally() {
    let events = every_event();
    for (event_type, fields) in spec_fields() {
        let event = events
            .iter()
            .find(|e| e.event_type() == event_type)
            .unwrap();
        let data = event.to_data();
        let mut keys: Vec<&String> = data.as_object().unwrap().keys().collect();
        // Version 2 of InteractionLogged: `duration_s` became `duration: {seconds}`.
        let evolved = |f: &String| {
            if event_type == "InteractionLogged" && f == "duration_s" {
                "duration".to_owned()
            } else {
                f.clone()
            }
        };
        let mut renamed: Vec<String> = fields.iter().map(evolved).collect();
        // Added to InteractionLogged by issue 18 (optional, so still version 2).
        if event_type == "InteractionLogged" {
            renamed.push("goal_reached".into());
        }
        let mut expected: Vec<&String> = renamed.iter().collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "fields of {event_type}");
    }
}

#[test]
fn a_few_payloads_are_exactly_as_specified() {
    let events = every_event();
    let find = |t: &str| events.iter().find(|e| e.event_type() == t).unwrap();
    assert_eq!(
        find("DealStageChanged").to_data(),
        json!({
            "deal_id": DEAL,
            "from_stage_id": STAGE1,
            "to_stage_id": STAGE2,
        })
    );
    assert_eq!(
        find("PipelineDefined").to_data()["stages"][1],
        json!({"stage_id": STAGE2, "name": "Proposal", "probability": 0.5})
    );
    assert_eq!(
        find("DealAmountChanged").to_data(),
        json!({"deal_id": DEAL, "from": 100_000, "to": 120_000})
    );
    let opened = find("DealOpened").to_data();
    assert_eq!(opened["expected_close_on"], json!("2026-04-30"));
    assert_eq!(opened["amount"], json!(100_000));
    assert_eq!(
        find("TaskScheduled").to_data()["due_at"],
        json!("2026-03-01T12:00:00Z")
    );
    assert_eq!(find("ManagerRegistered").to_data()["role"], json!("head"));
    let call = find("InteractionLogged").to_data();
    assert_eq!(call["kind"], json!("call"));
    assert_eq!(call["direction"], json!("outbound"));
    assert_eq!(
        find("ClientRegistered").to_data()["contacts"],
        json!([{"name": "Oleg", "phone": "+7 900 111-11-11", "email": "oleg@romashka.example"}])
    );
    // Changes: only the changed fields; `null` clears one.
    assert_eq!(
        find("ClientUpdated").to_data()["changes"],
        json!({"name": "Romashka JSC", "kind": "company", "size": null, "industry": "retail", "contacts": []})
    );
}

#[test]
fn the_automation_payloads_are_as_the_contract_names_them() {
    let events = every_event();
    let find = |t: &str| events.iter().find(|e| e.event_type() == t).unwrap();
    // The rule's kind and params side by side, as `POST /automation/rules` takes them.
    assert_eq!(
        find("RuleDefined").to_data(),
        json!({
            "rule_id": RULE, "name": "Call on proposal", "kind": "task_on_stage",
            "params": {"pipeline_id": PIPELINE, "stage_id": STAGE2, "title": "Call the client",
                       "kind": "call", "due_in_hours": 24},
            "defined_by": MANAGER,
        })
    );
    assert_eq!(find("RuleDisabled").to_data(), json!({"rule_id": RULE}));
    assert_eq!(
        find("LeadSlaBreached").to_data(),
        json!({"lead_id": LEAD, "manager_id": MANAGER, "minutes": 30})
    );
    assert_eq!(
        find("TaskReminderDue").to_data(),
        json!({"task_id": TASK, "assignee_id": OTHER_MANAGER, "due_at": "2026-03-01T15:00:00Z"})
    );
    // A breach of a lead nobody was assigned names no manager, with the key kept.
    let unassigned = json!({"lead_id": LEAD, "manager_id": null, "minutes": 30});
    let event = DomainEvent::from_stored("LeadSlaBreached", 1, unassigned.clone()).unwrap();
    assert_eq!(event.to_data(), unassigned);
    // A rule whose params are not its kind's shape is not a RuleDefined.
    let mixed = json!({"rule_id": RULE, "name": "x", "kind": "lead_sla",
                       "params": {"before_minutes": 5}});
    assert!(DomainEvent::from_stored("RuleDefined", 1, mixed).is_err());
}

#[test]
fn absent_optional_fields_are_left_out() {
    assert_eq!(
        crate::testing::deal_opened(DEAL).to_data(),
        json!({
            "deal_id": DEAL, "client_id": CLIENT, "pipeline_id": PIPELINE, "stage_id": STAGE1,
            "title": "100 pallets", "amount": 100_000, "manager_id": MANAGER,
        })
    );
}

#[test]
fn every_event_round_trips_through_to_data_and_from_stored() {
    for event in every_event() {
        let back =
            DomainEvent::from_stored(event.event_type(), event.schema_version(), event.to_data())
                .unwrap();
        assert_eq!(back, event);
    }
    // Through text too (the log stores jsonb).
    for event in every_event() {
        let text = serde_json::to_string(&event.to_data()).unwrap();
        let data = serde_json::from_str(&text).unwrap();
        assert_eq!(
            DomainEvent::from_stored(event.event_type(), 1, data).unwrap(),
            event
        );
    }
}

#[test]
fn optional_fields_may_be_null_or_missing() {
    let data = json!({"task_id": TASK, "reason": null});
    let event = DomainEvent::from_stored("TaskCancelled", 1, data).unwrap();
    assert_eq!(
        event,
        DomainEvent::TaskCancelled(crate::events::TaskCancelled {
            task_id: TASK,
            reason: None
        })
    );
}

#[test]
fn every_type_is_at_schema_version_1_but_interaction_logged_at_2() {
    for event in every_event() {
        let expected = if event.event_type() == "InteractionLogged" {
            2
        } else {
            1
        };
        assert_eq!(event.schema_version(), expected, "{}", event.event_type());
    }
}

#[test]
fn an_interaction_logged_at_version_1_reads_as_version_2() {
    let v1 = json!({"interaction_id": INTERACTION, "kind": "call", "direction": "outbound",
                    "manager_id": MANAGER, "duration_s": 185});
    let DomainEvent::InteractionLogged(event) =
        DomainEvent::from_stored("InteractionLogged", 1, v1.clone()).unwrap()
    else {
        panic!("not an interaction");
    };
    assert_eq!(
        event.duration,
        Some(crate::events::InteractionDuration { seconds: 185 })
    );
    let (version, data) = upcast("InteractionLogged", 1, v1).unwrap();
    assert_eq!(version, 2);
    assert_eq!(data["duration"], json!({"seconds": 185}));
    assert!(data.get("duration_s").is_none());
    // Without a duration it has none; version 2 is read as it is.
    let bare = json!({"interaction_id": INTERACTION, "kind": "meeting", "direction": "inbound",
                      "manager_id": MANAGER});
    let DomainEvent::InteractionLogged(event) =
        DomainEvent::from_stored("InteractionLogged", 1, bare.clone()).unwrap()
    else {
        panic!("not an interaction");
    };
    assert_eq!(event.duration, None);
    assert_eq!(
        upcast("InteractionLogged", 2, bare.clone()).unwrap(),
        (2, bare)
    );
    // A version 1 payload whose duration is not whole seconds cannot be read.
    let bad = json!({"interaction_id": INTERACTION, "kind": "call", "direction": "outbound",
                     "manager_id": MANAGER, "duration_s": "long"});
    assert!(matches!(
        DomainEvent::from_stored("InteractionLogged", 1, bad),
        Err(DecodeError::Upcast { version: 1, .. })
    ));
    // Other types are at version 1 already: unchanged.
    let won = json!({"deal_id": DEAL, "amount": 5});
    assert_eq!(upcast("DealWon", 1, won.clone()).unwrap(), (1, won));
}

#[test]
fn every_event_names_its_stream() {
    let streams: Vec<String> = every_event().iter().map(|e| e.stream()).collect();
    let prefix = |s: &String| {
        s.rsplit_once('-')
            .map(|_| s[..s.find('-').unwrap()].to_owned())
    };
    let prefixes: Vec<String> = streams.iter().filter_map(prefix).collect();
    assert_eq!(
        prefixes,
        [
            "manager",
            "manager",
            "pipeline",
            "client",
            "client",
            "client",
            "lead",
            "lead",
            "lead",
            "lead",
            "deal",
            "deal",
            "deal",
            "deal",
            "deal",
            "deal",
            "deal",
            "interaction",
            "task",
            "task",
            "task",
            "task",
            "task",
            "projection",
            "projection",
            "projection",
            "export",
            "client",
            "lead",
            "rule",
            "rule",
            "lead",
            "task",
            "product",
            "deal",
            "deal",
            "invoice",
            "invoice",
            "shipment",
            "plan",
            "client",
            "client"
        ]
    );
    assert_eq!(
        deal_opened(DEAL).stream(),
        "deal-00000000-0000-0000-0000-000000000028"
    );
    assert_eq!(
        every_event()[8].stream(),
        format!("lead-{LEAD}"),
        "LeadConverted belongs to the lead"
    );
}

#[test]
fn unknown_type_is_refused() {
    let err = DomainEvent::from_stored("DealExploded", 1, json!({})).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownType(t) if t == "DealExploded"));
}

#[test]
fn newer_schema_version_is_refused() {
    let err =
        DomainEvent::from_stored("DealWon", 2, json!({"deal_id": DEAL, "amount": 1})).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::TooNew {
            version: 2,
            current: 1,
            ..
        }
    ));
}

#[test]
fn older_version_without_upcaster_is_refused() {
    let err = DomainEvent::from_stored("DealWon", 0, json!({})).unwrap_err();
    assert!(matches!(err, DecodeError::NoUpcaster { version: 0, .. }));
}

#[test]
fn malformed_payload_is_refused() {
    let err = DomainEvent::from_stored("DealWon", 1, json!({"deal_id": DEAL, "amount": "ten"}))
        .unwrap_err();
    assert!(matches!(err, DecodeError::Payload { .. }), "{err}");
    let err = DomainEvent::from_stored("DealWon", 1, json!({"deal_id": DEAL})).unwrap_err();
    assert!(matches!(err, DecodeError::Payload { .. }), "{err}");
}

// --- The upcasting hook, shown with made-up history. ---

/// A hypothetical pre-release `DealWon` (v0): `{"deal": id, "won": {"sum": n}}`.
fn deal_won_v0(data: serde_json::Value) -> Result<serde_json::Value, String> {
    let deal = data.get("deal").cloned().ok_or("no deal")?;
    let sum = data.pointer("/won/sum").cloned().ok_or("no won.sum")?;
    Ok(json!({"deal_id": deal, "amount": sum}))
}

/// A hypothetical v0 of `DealLost` whose reason was called `why`, then a v1 whose
/// reason was free text to be trimmed: two steps, v0 → v1 → v2.
fn deal_lost_v0(mut data: serde_json::Value) -> Result<serde_json::Value, String> {
    let object = data.as_object_mut().ok_or("not an object")?;
    let why = object.remove("why").ok_or("no why")?;
    object.insert("reason".into(), why);
    Ok(data)
}

fn deal_lost_v1(mut data: serde_json::Value) -> Result<serde_json::Value, String> {
    let reason = data["reason"]
        .as_str()
        .ok_or("no reason")?
        .trim()
        .to_lowercase();
    data["reason"] = json!(reason);
    Ok(data)
}

const MADE_UP: &[Upcaster] = &[
    Upcaster {
        event_type: "DealWon",
        from_version: 0,
        upcast: deal_won_v0,
    },
    Upcaster {
        event_type: "DealLost",
        from_version: 0,
        upcast: deal_lost_v0,
    },
    Upcaster {
        event_type: "DealLost",
        from_version: 1,
        upcast: deal_lost_v1,
    },
];

#[test]
fn an_upcaster_turns_an_old_shape_into_the_current_event() {
    let old = json!({"deal": DEAL, "won": {"sum": 5_000}});
    let event = decode_with(MADE_UP, "DealWon", 0, old).unwrap();
    assert_eq!(
        event,
        DomainEvent::DealWon(DealWon {
            deal_id: DEAL,
            amount: 5_000
        })
    );
    // The current shape still reads as is: the upcaster added a version below 1.
    let current = json!({"deal_id": DEAL, "amount": 7});
    assert!(decode_with(MADE_UP, "DealWon", 1, current).is_ok());
}

#[test]
fn upcasters_chain_one_version_at_a_time() {
    assert_eq!(version_with(MADE_UP, "DealLost"), 2);
    let v0 = json!({"deal_id": DEAL, "why": "  PRICE "});
    let v1 = json!({"deal_id": DEAL, "reason": "  PRICE "});
    let v2 = json!({"deal_id": DEAL, "reason": "price"});
    for (version, data) in [(0, v0), (1, v1), (2, v2)] {
        let event = decode_with(MADE_UP, "DealLost", version, data).unwrap();
        assert_eq!(
            event,
            DomainEvent::DealLost(crate::events::DealLost {
                deal_id: DEAL,
                reason: "price".into(),
                comment: None
            }),
            "from version {version}"
        );
    }
}

#[test]
fn a_failing_upcaster_names_the_step() {
    let err = decode_with(MADE_UP, "DealWon", 0, json!({"deal": DEAL})).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Upcast { version: 0, message, .. } if message == "no won.sum"),
        "{err}"
    );
}

#[test]
fn the_sales_payloads_are_as_the_contract_names_them() {
    let events = every_event();
    let find = |t: &str| events.iter().find(|e| e.event_type() == t).unwrap();
    assert_eq!(
        find("ProductDefined").to_data(),
        json!({"product_id": PRODUCT, "name": "Pallet", "category": "Packaging", "price": 1_500})
    );
    assert_eq!(
        find("DealLineAdded").to_data(),
        json!({"deal_id": DEAL, "line_id": LINE, "product_id": PRODUCT, "quantity": 4, "price": 1_400})
    );
    assert_eq!(
        find("DealLineRemoved").to_data(),
        json!({"deal_id": DEAL, "line_id": LINE})
    );
    assert_eq!(
        find("InvoiceIssued").to_data(),
        json!({"invoice_id": INVOICE, "deal_id": DEAL, "number": "INV-2026-001",
               "amount": 120_000, "due_on": "2026-03-15"})
    );
    assert_eq!(
        find("PaymentReceived").to_data(),
        json!({"invoice_id": INVOICE, "deal_id": DEAL, "payment_id": PAYMENT,
               "amount": 50_000, "paid_on": "2026-03-10"})
    );
    assert_eq!(
        find("ShipmentSent").to_data(),
        json!({"shipment_id": SHIPMENT, "deal_id": DEAL, "shipped_on": "2026-03-12",
               "note": "waybill 7731"})
    );
    let plan = find("PlanSet").to_data();
    assert_eq!(plan["month"], json!("2026-03"));
    assert_eq!(
        plan["targets"],
        json!({"calls": 120, "meetings": 10, "call_seconds": 36_000, "deals_won": 4,
               "won_amount": 500_000})
    );
    assert_eq!(
        find("ClientMerged").to_data(),
        json!({"client_id": OTHER_CLIENT, "into_client_id": CLIENT})
    );
    assert_eq!(
        find("ClientUnmerged").to_data(),
        json!({"client_id": OTHER_CLIENT, "from_client_id": CLIENT})
    );
    // Targets not planned are left out; a month that is not YYYY-MM is no PlanSet.
    let partial = json!({"plan_id": PRODUCT, "manager_id": MANAGER, "month": "2026-04",
                         "targets": {"calls": 5}});
    let event = DomainEvent::from_stored("PlanSet", 1, partial.clone()).unwrap();
    assert_eq!(event.to_data(), partial);
    let bad = json!({"plan_id": PRODUCT, "manager_id": MANAGER, "month": "2026-4",
                     "targets": {"calls": 5}});
    assert!(DomainEvent::from_stored("PlanSet", 1, bad).is_err());
}

#[test]
fn an_interaction_logged_before_goal_reached_existed_still_reads() {
    for (version, data) in [
        (
            1,
            json!({"interaction_id": INTERACTION, "kind": "call", "direction": "outbound",
                   "manager_id": MANAGER, "duration_s": 60, "goal": "qualify"}),
        ),
        (
            2,
            json!({"interaction_id": INTERACTION, "kind": "call", "direction": "outbound",
                   "manager_id": MANAGER, "duration": {"seconds": 60}, "goal": "qualify"}),
        ),
    ] {
        let DomainEvent::InteractionLogged(event) =
            DomainEvent::from_stored("InteractionLogged", version, data).unwrap()
        else {
            panic!("not an interaction");
        };
        assert_eq!(event.goal_reached, None, "version {version}");
        assert_eq!(event.goal.as_deref(), Some("qualify"));
    }
    // Written with it, it reads back; without it, the key is left out.
    let reached = json!({"interaction_id": INTERACTION, "kind": "call", "direction": "outbound",
                         "manager_id": MANAGER, "goal_reached": false});
    let event = DomainEvent::from_stored("InteractionLogged", 2, reached.clone()).unwrap();
    assert_eq!(event.to_data(), reached);
}
