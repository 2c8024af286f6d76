//! Engine panics kept inside the stage that called the engine.
//!
//! A panic in an engine session (a bug in the engine, or in a model library under it) must
//! not end a speaker's pipeline: in a room, the thread running that stage would stop, and the
//! speaker's captions with it for the rest of the call. Each stage calls its sessions through
//! [`contain`], inside the scheduler's job (so no scheduler has to survive an unwind), which
//! turns a panic into [`Error::EnginePanicked`]. The stage then reports it, drops the session
//! (its state after a panic is unknown) and starts a fresh one for the next input.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, Result};

/// Runs `call` (a call into an engine session), returning [`Error::EnginePanicked`] if it
/// panics.
pub(super) fn contain<T>(call: impl FnOnce() -> Result<T>) -> Result<T> {
    // Unwind safety: after a panic the caller drops the session the call was using and never
    // looks at it again; nothing else the call could reach is left half-changed (the stages
    // append to their outputs only after the call returns).
    catch_unwind(AssertUnwindSafe(call))
        .unwrap_or_else(|payload| Err(Error::EnginePanicked(panic_message(payload.as_ref()))))
}

/// The text a panic was raised with (its payload as `catch_unwind` returns it).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Whether `result` is a panic that [`contain`] caught: the session must be replaced.
pub(super) fn panicked<T>(result: &Result<T>) -> bool {
    matches!(result, Err(Error::EnginePanicked(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let caught = contain::<()>(|| panic!("index {} out of range", 7));
        assert!(panicked(&caught));
        assert!(
            caught
                .unwrap_err()
                .to_string()
                .contains("index 7 out of range")
        );
        let fine = contain(|| Ok(3));
        assert!(!panicked(&fine));
        assert_eq!(fine.unwrap(), 3);
    }
}
