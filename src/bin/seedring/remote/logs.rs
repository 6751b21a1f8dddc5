//! `seedring remote logs`: the daemon's log entries, printed, and its live feed
//! followed.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use anyhow::bail;
use serde_json::Value;

use super::Client;

pub(super) fn print_entry(e: &Value, json: bool) {
    if json {
        println!("{e}");
        return;
    }
    let fields = e["fields"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!(" {k}={}", v.as_str().unwrap_or("")))
                .collect::<String>()
        })
        .unwrap_or_default();
    println!(
        "{:>5} {}{}",
        e["level"].as_str().unwrap_or("?"),
        e["message"].as_str().unwrap_or(""),
        fields
    );
}

/// Reads the live feed (Server-Sent Events) until the daemon goes.
pub(super) fn follow(c: &Client, level: Option<&str>, json: bool) -> anyhow::Result<()> {
    let mut url = format!("{}/api/v1/logs/stream", c.base);
    if let Some(l) = level {
        url.push_str(&format!("?level={l}"));
    }
    let http = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(None)
        .build()?;
    let resp = http.get(url).bearer_auth(&c.token).send()?;
    if !resp.status().is_success() {
        bail!("{}", resp.status());
    }
    let mut event = String::new();
    for line in BufReader::new(resp).lines() {
        let line = line?;
        if let Some(kind) = line.strip_prefix("event: ") {
            event = kind.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            match event.as_str() {
                "log" => {
                    if let Ok(v) = serde_json::from_str::<Value>(data) {
                        print_entry(&v, json);
                    }
                }
                "lagged" => eprintln!("seedring: {data} log entries missed (reading too slowly)"),
                _ => {}
            }
        }
    }
    Ok(())
}
