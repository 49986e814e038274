//! The protocol's flows, written once: the owner's ([`owner`], with its epoch
//! policy in [`policy`]) and the reader's ([`reader`]). Pure and free of I/O:
//! each step takes what a driver fetched and returns what it must send, so
//! the JS package, the native client and the tests run the same rules.

pub mod owner;
pub mod policy;
pub mod reader;
