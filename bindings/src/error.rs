//! The one error type the foreign side sees.

use dragoman_core::Error;

/// What went wrong, by what a caller can do about it; the message says the rest (the file, the
/// model, the command that fixes it). Each variant becomes an exception class (Python, Kotlin)
/// or an error case (Swift).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum DragomanError {
    /// A model is unknown, not pulled, corrupt, or could not be fetched or read.
    #[error("{0}")]
    Model(String),
    /// A language code is unknown, or no model or voice serves the language (pair).
    #[error("{0}")]
    Language(String),
    /// Audio that cannot be read or used.
    #[error("{0}")]
    Audio(String),
    /// An argument or call the API does not allow (for example audio after `finish`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A file or the network failed.
    #[error("{0}")]
    Io(String),
    /// A bug in dragoman.
    #[error("{0}")]
    Internal(String),
}

impl From<Error> for DragomanError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::UnknownModel { .. }
            | Error::ModelNotPulled { .. }
            | Error::Checksum { .. }
            | Error::Fetch { .. }
            | Error::Download(_)
            | Error::Convert { .. }
            | Error::ModelFile { .. }
            | Error::Model(_) => Self::Model(message),
            Error::UnknownLanguage { .. }
            | Error::UnsupportedLanguagePair { .. }
            | Error::NoVoice { .. } => Self::Language(message),
            Error::UnsupportedAudio(_) | Error::AudioFile { .. } => Self::Audio(message),
            Error::Misuse(_) | Error::QueueFull(_) => Self::InvalidArgument(message),
            Error::Io { .. } => Self::Io(message),
            _ => Self::Internal(message),
        }
    }
}

/// The result of an exported call.
pub(crate) type Result<T> = std::result::Result<T, DragomanError>;
