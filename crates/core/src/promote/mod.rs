//! Promotion as plain data: the promotion PR built from the source PR and the pick, and the
//! settings that shape it.

pub mod plan;
pub mod settings;
