//! # dragoman-rtc
//!
//! The SFU room on the webrtc crate with a translation pipeline per speaking track.
//!
//! Not implemented yet: this crate holds its place in the workspace so the architecture is
//! visible from the folder tree. It exports nothing until its issue lands.

pub use dragoman_core as core;
