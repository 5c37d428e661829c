//! What the command prints goes through [`outln!`]: a reader that went
//! away (`joust model list | head -1`) ends the process quietly with
//! status 141 (128 + SIGPIPE, what a shell shows for a process a closed
//! pipe killed) instead of a panic. Other write failures end it with a
//! one-line error. [`install_broken_pipe_exit`] does the same for prints
//! in the libraries the CLI runs (`outln!` panics on a closed pipe).

use std::io::Write;

/// The exit status after stdout's reader went away.
pub const CLOSED_PIPE_STATUS: i32 = 141;

/// Writes one line (or, with [`out!`], text without a newline) to stdout.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = written {
        failed(&e);
    }
}

fn failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE_STATUS);
    }
    eprintln!("error: writing to stdout: {e}");
    std::process::exit(1)
}

/// A panic from `outln!` on a closed stdout (in code that does not use
/// [`outln!`]) ends the process like [`outln!`] does, quietly.
pub fn install_broken_pipe_exit() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE_STATUS);
        }
        default(info);
    }));
}

/// `outln!` that exits quietly when stdout's reader went away.
macro_rules! outln {
    () => {
        $crate::stdout::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*), true)
    };
}

/// `print!` that exits quietly when stdout's reader went away.
#[allow(unused_macros)]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*), false)
    };
}

/// What a role prints about itself (`… listening on ADDR`): a reader that
/// went away must not stop a server, so a failed write is ignored.
pub fn announce(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// A role's line about itself, never fatal (see [`announce`]).
macro_rules! announce {
    ($($arg:tt)*) => {
        $crate::stdout::announce(format_args!($($arg)*))
    };
}
