//! `emulator`: a local stand-in for api.fastly.com (users, tokens, rate limits) plus a
//! DNS-over-HTTPS endpoint, with a separate control socket for tests. See README.md.

mod api;
mod control;
mod http;
mod seed;
mod state;
mod time;

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use crate::api::Shared;
use crate::http::{Handler, Outcome};

const USAGE: &str = "usage: emulator [--listen ADDR] [--control ADDR] [--seed PATH]

  --listen ADDR   the emulated Fastly API (default 127.0.0.1:8787)
  --control ADDR  the control API, /_emulator/* (default 127.0.0.1:8788)
  --seed PATH     seed file (default: the seed.json built into the binary)

Port 0 picks a free port; the bound addresses are printed as
'api listening on http://ADDR' and 'control listening on http://ADDR'.";

struct Args {
    listen: String,
    control: String,
    seed: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { listen: "127.0.0.1:8787".into(), control: "127.0.0.1:8788".into(), seed: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if !matches!(flag.as_str(), "--listen" | "--control" | "--seed") {
            return Err(format!("unknown argument '{flag}'"));
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--listen" => args.listen = value,
            "--control" => args.control = value,
            "--seed" => args.seed = Some(value),
            _ => return Err(format!("unknown argument '{flag}'")),
        }
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let seed_text = match &args.seed {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => seed::DEFAULT_SEED.to_string(),
    };
    let seed = seed::parse(&seed_text)?;
    let state = seed::build(&seed)?;
    let shared = Arc::new(Shared { state: Mutex::new(state), seed });

    let api_listener = TcpListener::bind(&args.listen).map_err(|e| format!("bind {}: {e}", args.listen))?;
    let control_listener = TcpListener::bind(&args.control).map_err(|e| format!("bind {}: {e}", args.control))?;
    let api_addr = api_listener.local_addr().map_err(|e| e.to_string())?;
    let control_addr = control_listener.local_addr().map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "api listening on http://{api_addr}").map_err(|e| e.to_string())?;
        writeln!(out, "control listening on http://{control_addr}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }

    let control_shared = Arc::clone(&shared);
    let control_handler: Handler = Arc::new(move |req| Outcome::Respond(control::handle(&control_shared, req)));
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || http::serve(control_listener, control_handler))
        .map_err(|e| e.to_string())?;

    let api_handler: Handler = Arc::new(move |req| api::handle(&shared, req));
    http::serve(api_listener, api_handler);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("emulator: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
