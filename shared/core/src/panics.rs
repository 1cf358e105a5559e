//! Panics as one structured log line.
//!
//! The decoders run under `catch_unwind`, so a malformed upload that panics
//! inside a dependency fails its job instead of the process. The default hook
//! would still print a multi-line report (a full backtrace with
//! `RUST_BACKTRACE`) on stderr for each; this one writes a single `error`
//! event with the message, the location and the thread, or one plain line
//! where no log subscriber is installed (the CLI's file commands).

use std::panic::PanicHookInfo;

/// The message, `file:line` and thread of a panic.
pub fn describe(info: &PanicHookInfo<'_>) -> (String, String, String) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    (message, location, thread)
}

/// Installs the hook for the whole process; call it once, after logging is set up.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let (message, location, thread) = describe(info);
        if tracing::dispatcher::has_been_set() {
            tracing::error!(panic = %message, %location, %thread, "panic");
        } else {
            eprintln!("panic at {location} on thread {thread}: {message}");
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_is_described_in_one_line() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            sink.lock().unwrap().push(describe(info));
        }));
        let caught = std::panic::catch_unwind(|| {
            let denominator = std::hint::black_box(0u32);
            panic!("TimeBase cannot have {denominator} numerator or denominator");
        });
        std::panic::set_hook(previous);
        assert!(caught.is_err());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (message, location, _) = &seen[0];
        assert_eq!(message, "TimeBase cannot have 0 numerator or denominator");
        assert!(
            location.starts_with("shared/core/src/panics.rs:"),
            "{location}"
        );
        assert!(!message.contains('\n'));
    }
}
