//! Serves a folder on 127.0.0.1 with the test server (HF-style resolve URLs, ranges) and
//! reports the body bytes it sends, for measuring what remote commands read:
//!
//! `cargo run -p taoke-remote --example serve -- ROOT [PORT] [--ignore-ranges]`
//!
//! Prints the endpoint, then one line to stderr whenever the counters change.

use std::time::Duration;

use taoke_remote::testserver::{Options, TestServer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first() else {
        eprintln!("usage: serve ROOT [PORT] [--ignore-ranges]");
        std::process::exit(2);
    };
    let port = args.get(1).and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
    let opts = Options {
        ignore_ranges: args.iter().any(|a| a == "--ignore-ranges"),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        ..Options::default()
    };
    let srv = match TestServer::start_on(std::path::Path::new(root), opts, port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("serve: {e}");
            std::process::exit(2);
        }
    };
    println!("{}", srv.endpoint());
    let mut last = (u64::MAX, u64::MAX);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = (srv.requests(), srv.body_bytes());
        if now != last {
            eprintln!("requests {} body_bytes {}", now.0, now.1);
            last = now;
        }
    }
}
