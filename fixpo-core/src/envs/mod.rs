//! Classic control tasks with Gymnasium's definitions.
