//! (to be written)

use super::{Context, Finding, Sides};

pub(super) fn check(_sides: &Sides, _context: &Context, _out: &mut Vec<Finding>) {}
