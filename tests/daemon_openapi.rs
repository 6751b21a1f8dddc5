//! The daemon's answers, success and error, against its own OpenAPI document
//! (`/api/v1/openapi.json`): every status answered is documented for its route,
//! and every JSON body fits the documented schema.
// Real processes on real ports: the test waits on the wall clock, with bounds.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use base64::Engine as _;
use daemon_common::{Daemon, make_torrent};
use reqwest::Method;
use serde_json::{Value, json};

/// Checks one answer against the document: (route template, method) → status →
/// schema.
fn check(doc: &Value, template: &str, method: &Method, status: u16, body: &[u8]) {
    let op = &doc["paths"][template][method.as_str().to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let r = &op["responses"][status.to_string()];
    assert!(
        r.is_object(),
        "{method} {template} answered {status}, which is not documented"
    );
    let Some(schema) = r["content"]["application/json"]["schema"].as_object() else {
        return;
    };
    // The document is the root, so `$ref`s to its components resolve.
    let mut root = doc.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    for (k, v) in schema {
        root[k] = v.clone();
    }
    let v = jsonschema::validator_for(&root).expect("the document's schemas compile");
    let value: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{method} {template} ({status}): not JSON: {e}"));
    let errors: Vec<String> = v
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} ({status}): {errors:?}\n{value}"
    );
}

#[test]
fn every_answer_fits_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let doc: Value = d.get_json("/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");

    let (t, data) = make_torrent(dir.path(), "doc.bin", 300_000);
    std::fs::write(dir.path().join("downloads/doc.bin"), &data).unwrap();
    let bytes = std::fs::read(&t).unwrap();
    let added: Value = d.add_torrent(&bytes, "").json().unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let unknown = "ab".repeat(20);
    let disk2 = dir.path().join("disk2");
    let (t2, _) = make_torrent(dir.path(), "doc2.bin", 40_000);
    let doc2 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&t2).unwrap());

    // (method, template, path, body): successes and failures of every route.
    let calls: Vec<(Method, &str, String, Option<Value>)> = vec![
        (
            Method::GET,
            "/torrents",
            "/torrents?sort=-size".into(),
            None,
        ),
        (
            Method::GET,
            "/torrents",
            "/torrents?sort=colour".into(),
            None,
        ),
        (
            Method::POST,
            "/torrents",
            "/torrents".into(),
            Some(
                json!({"magnet": format!("magnet:?xt=urn:btih:{}&dn=m", "cd".repeat(20)), "paused": true}),
            ),
        ),
        (
            Method::POST,
            "/torrents",
            "/torrents".into(),
            Some(json!({"magnet": "nope"})),
        ),
        (
            Method::POST,
            "/torrents",
            "/torrents".into(),
            Some(json!({"magnet": format!("magnet:?xt=urn:btih:{}", "cd".repeat(20))})),
        ),
        (
            Method::POST,
            "/torrents",
            "/torrents".into(),
            Some(json!({"extra": 1})),
        ),
        (
            Method::POST,
            "/torrents",
            "/torrents".into(),
            Some(json!({"torrent": doc2, "paused": true, "name": "two",
                "paths": [{"index": 0, "path": "renamed.bin"}]})),
        ),
        (
            Method::POST,
            "/torrents",
            "/torrents".into(),
            Some(json!({"torrent": doc2, "paths": [{"index": 3, "path": "x"}]})),
        ),
        (
            Method::GET,
            "/torrents/{id}",
            format!("/torrents/{id}"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}",
            format!("/torrents/{unknown}"),
            None,
        ),
        (Method::GET, "/torrents/{id}", "/torrents/zz".into(), None),
        (
            Method::POST,
            "/torrents/{id}/pause",
            format!("/torrents/{id}/pause"),
            None,
        ),
        (
            Method::POST,
            "/torrents/{id}/resume",
            format!("/torrents/{id}/resume"),
            None,
        ),
        (
            Method::POST,
            "/torrents/{id}/recheck",
            format!("/torrents/{unknown}/recheck"),
            None,
        ),
        (
            Method::PUT,
            "/torrents/{id}/limits",
            format!("/torrents/{id}/limits"),
            Some(json!({"download": 0, "upload": 0})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/limits",
            format!("/torrents/{id}/limits"),
            Some(json!({"download": -1})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/labels",
            format!("/torrents/{id}/labels"),
            Some(json!({"labels": ["tv"]})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/labels",
            format!("/torrents/{id}/labels"),
            Some(json!({"labels": [""]})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/share_limits",
            format!("/torrents/{id}/share_limits"),
            Some(
                json!({"ratio_limit": 2.5, "seeding_time_limit_mins": -1, "share_limit_action": "super_seed"}),
            ),
        ),
        // Its own share limits, shown.
        (
            Method::GET,
            "/torrents/{id}",
            format!("/torrents/{id}"),
            None,
        ),
        (
            Method::PUT,
            "/torrents/{id}/share_limits",
            format!("/torrents/{id}/share_limits"),
            Some(json!({"share_limit_action": "explode"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/share_limits",
            format!("/torrents/{unknown}/share_limits"),
            Some(json!({})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/name",
            format!("/torrents/{id}/name"),
            Some(json!({"name": "Shown as"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/name",
            format!("/torrents/{id}/name"),
            Some(json!({"name": "a\u{7}b"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/sequential",
            format!("/torrents/{id}/sequential"),
            Some(json!({"on": true})),
        ),
        (
            Method::GET,
            "/torrents/{id}/files",
            format!("/torrents/{id}/files"),
            None,
        ),
        (
            Method::PUT,
            "/torrents/{id}/files",
            format!("/torrents/{id}/files"),
            Some(json!({"priorities": [1, 1, 1]})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/files",
            format!("/torrents/{id}/files"),
            Some(json!({"indexes": [0], "priority": 7})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/files",
            format!("/torrents/{id}/files"),
            Some(json!({"indexes": [99], "priority": 1})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/files",
            format!("/torrents/{id}/files"),
            Some(json!({"priorities": [1], "priority": 1})),
        ),
        // The new priority, shown.
        (
            Method::GET,
            "/torrents/{id}/files",
            format!("/torrents/{id}/files"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}/files/{index}",
            format!("/torrents/{id}/files/0"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}/files/{index}",
            format!("/torrents/{id}/files/9"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}/peers",
            format!("/torrents/{id}/peers"),
            None,
        ),
        (
            Method::POST,
            "/torrents/{id}/peers",
            format!("/torrents/{id}/peers"),
            Some(json!({"peers": ["127.0.0.1:9"]})),
        ),
        (
            Method::POST,
            "/torrents/{id}/peers",
            format!("/torrents/{id}/peers"),
            Some(json!({"peers": ["x"]})),
        ),
        (
            Method::GET,
            "/torrents/{id}/pieces",
            format!("/torrents/{id}/pieces"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}/trackers",
            format!("/torrents/{id}/trackers"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}/trackers",
            format!("/torrents/{unknown}/trackers"),
            None,
        ),
        (
            Method::PUT,
            "/torrents/{id}/trackers",
            format!("/torrents/{id}/trackers"),
            Some(json!({"tiers": [["http://127.0.0.1:9/announce"], ["udp://127.0.0.1:9"]]})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/trackers",
            format!("/torrents/{id}/trackers"),
            Some(json!({"tiers": [["file:///etc/passwd"]]})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/trackers",
            format!("/torrents/{unknown}/trackers"),
            Some(json!({"tiers": []})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/paths",
            format!("/torrents/{id}/paths"),
            Some(json!({"from": "nope.bin", "to": "x.bin"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/paths",
            format!("/torrents/{unknown}/paths"),
            Some(json!({"from": "a", "to": "b"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/paths",
            format!("/torrents/{id}/paths"),
            Some(json!({"from": "a"})),
        ),
        (
            Method::GET,
            "/torrents/{id}/torrent",
            format!("/torrents/{id}/torrent"),
            None,
        ),
        (
            Method::GET,
            "/torrents/{id}/torrent",
            format!("/torrents/{unknown}/torrent"),
            None,
        ),
        (Method::GET, "/roots", "/roots".into(), None),
        (
            Method::POST,
            "/roots",
            "/roots".into(),
            Some(json!({"token": "disk2", "path": disk2})),
        ),
        (
            Method::POST,
            "/roots",
            "/roots".into(),
            Some(json!({"token": "disk2", "path": disk2})),
        ),
        (
            Method::POST,
            "/roots",
            "/roots".into(),
            Some(json!({"token": "rel", "path": "relative/path"})),
        ),
        (
            Method::POST,
            "/roots/{token}/default",
            "/roots/disk2/default".into(),
            None,
        ),
        (
            Method::POST,
            "/roots/{token}/default",
            "/roots/none/default".into(),
            None,
        ),
        (
            Method::DELETE,
            "/roots/{token}",
            "/roots/default".into(),
            None,
        ),
        (
            Method::POST,
            "/torrents/{id}/move",
            format!("/torrents/{id}/move"),
            Some(json!({"root": "disk2"})),
        ),
        (Method::GET, "/settings", "/settings".into(), None),
        (
            Method::PATCH,
            "/settings",
            "/settings".into(),
            Some(json!({"upload_limit": 5})),
        ),
        (
            Method::PATCH,
            "/settings",
            "/settings".into(),
            Some(json!({"max_half_open": 0})),
        ),
        (
            Method::PATCH,
            "/settings",
            "/settings".into(),
            Some(json!({"ratio_limit": 2.5, "share_limit_action": "remove"})),
        ),
        (
            Method::PATCH,
            "/settings",
            "/settings".into(),
            Some(json!({"ratio_limit": -3})),
        ),
        (
            Method::PUT,
            "/categories/{name}",
            "/categories/tv".into(),
            Some(json!({"save_path": disk2.join("tv").to_string_lossy()})),
        ),
        (
            Method::PUT,
            "/categories/{name}",
            "/categories/tv".into(),
            Some(json!({"save_path": ""})),
        ),
        (
            Method::PUT,
            "/categories/{name}",
            "/categories/bad".into(),
            Some(json!({"save_path": "/etc"})),
        ),
        (Method::GET, "/categories", "/categories".into(), None),
        (
            Method::PUT,
            "/torrents/{id}/category",
            format!("/torrents/{id}/category"),
            Some(json!({"category": "tv"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/category",
            format!("/torrents/{id}/category"),
            Some(json!({"category": "nope"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/follow_category",
            format!("/torrents/{id}/follow_category"),
            Some(json!({"on": false})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/follow_category",
            format!("/torrents/{unknown}/follow_category"),
            Some(json!({"on": true})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/download_root",
            format!("/torrents/{id}/download_root"),
            Some(json!({"root": null})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/download_root",
            format!("/torrents/{unknown}/download_root"),
            Some(json!({"root": "nope"})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/download_root",
            format!("/torrents/{id}/download_root"),
            Some(json!({"root": 7})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/super_seeding",
            format!("/torrents/{id}/super_seeding"),
            Some(json!({"on": true})),
        ),
        (
            Method::PUT,
            "/torrents/{id}/super_seeding",
            format!("/torrents/{id}/super_seeding"),
            Some(json!({"on": 1})),
        ),
        (Method::GET, "/tags", "/tags".into(), None),
        (
            Method::DELETE,
            "/categories/{name}",
            "/categories/tv".into(),
            None,
        ),
        (
            Method::DELETE,
            "/categories/{name}",
            "/categories/tv".into(),
            None,
        ),
        (Method::GET, "/stats", "/stats".into(), None),
        (Method::GET, "/logs", "/logs?limit=50".into(), None),
        (Method::GET, "/logs", "/logs?level=nope".into(), None),
        (Method::GET, "/openapi.json", "/openapi.json".into(), None),
        (
            Method::DELETE,
            "/torrents/{id}",
            format!("/torrents/{unknown}"),
            None,
        ),
        (
            Method::DELETE,
            "/torrents/{id}",
            format!("/torrents/{id}?delete_files=false"),
            None,
        ),
    ];
    let mut statuses = std::collections::BTreeSet::new();
    for (method, template, path, body) in calls {
        let mut req = d.authed(d.http.request(method.clone(), d.url(&path)));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().unwrap();
        check(&doc, template, &method, status, &bytes);
        statuses.insert((template, status));
    }
    // Without the token: a 401 every route documents.
    let r = d.http.get(d.url("/stats")).send().unwrap();
    let status = r.status().as_u16();
    check(&doc, "/stats", &Method::GET, status, &r.bytes().unwrap());
    // Last, as it stops the daemon.
    let r = d.authed(d.http.post(d.url("/shutdown"))).send().unwrap();
    let status = r.status().as_u16();
    check(
        &doc,
        "/shutdown",
        &Method::POST,
        status,
        &r.bytes().unwrap(),
    );
    statuses.insert(("/shutdown", status));
    // Both kinds of answer were seen.
    assert!(statuses.iter().any(|(_, s)| *s >= 400) && statuses.iter().any(|(_, s)| *s < 300));
    // Every route of the document was called.
    for p in doc["paths"].as_object().unwrap().keys() {
        if p != "/logs/stream" {
            assert!(
                statuses.iter().any(|(t, _)| t == p),
                "{p} was not exercised"
            );
        }
    }
}
