//! The enums a user names in a configuration have one name each: the one
//! `name()` gives, `from_name` parses and serde writes and reads (with the
//! `serde` feature, which `cargo test --workspace` turns on through
//! fixpo-host).
#![cfg(feature = "serde")]

use fixpo_core::fixpo::{Algo, FixupSchedule};
use fixpo_core::rollout::RewardNorm;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `v`'s serde name is `name`, serde reads it back, and `from_name` parses it.
fn check<T>(v: T, name: &str, from_name: fn(&str) -> Option<T>)
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug + Copy,
{
    let json = serde_json::to_string(&v).expect("serialise");
    assert_eq!(json, format!("\"{name}\""), "{v:?}");
    assert_eq!(serde_json::from_str::<T>(&json).expect("deserialise"), v);
    assert_eq!(from_name(name), Some(v));
}

#[test]
fn serde_names_are_the_cli_names() {
    for a in Algo::ALL {
        check(a, a.name(), Algo::from_name);
    }
    for f in FixupSchedule::ALL {
        check(f, f.name(), FixupSchedule::from_name);
    }
    for r in RewardNorm::ALL {
        check(r, r.name(), RewardNorm::from_name);
    }
}

#[test]
fn the_names_are_the_documented_ones() {
    let algos = Algo::ALL.map(Algo::name);
    assert_eq!(algos, ["fixpo", "fixpo-nofixup", "ppo-clip", "kl-penalty"]);
    let schedules = FixupSchedule::ALL.map(FixupSchedule::name);
    assert_eq!(schedules, ["every-epoch", "end"]);
    assert_eq!(Algo::from_name("fixpo-no-fixup"), None);
    assert_eq!(FixupSchedule::from_name("Every-Epoch"), None);
}
