//! fixpo host library.
