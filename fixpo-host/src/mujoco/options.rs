//! The options machinery: every task's options struct is made by the
//! `options!` macro from a list of Gymnasium's keyword arguments with
//! their defaults and the checks they must pass, and can be read and set
//! by name.

/// An option value given as `f64` on the command line.
pub(crate) trait OptionValue: Sized {
    fn from_option(value: f64) -> Result<Self, &'static str>;
    fn to_option(&self) -> f64;
}

impl OptionValue for f64 {
    fn from_option(value: f64) -> Result<Self, &'static str> {
        if value.is_nan() {
            Err("not a number")
        } else {
            Ok(value)
        }
    }
    fn to_option(&self) -> f64 {
        *self
    }
}

impl OptionValue for bool {
    fn from_option(value: f64) -> Result<Self, &'static str> {
        match value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            _ => Err("expected 0 (false) or 1 (true)"),
        }
    }
    fn to_option(&self) -> f64 {
        if *self { 1.0 } else { 0.0 }
    }
}

impl OptionValue for u32 {
    fn from_option(value: f64) -> Result<Self, &'static str> {
        if value.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&value) {
            Ok(value as u32)
        } else {
            Err("expected a whole number ≥ 1")
        }
    }
    fn to_option(&self) -> f64 {
        f64::from(*self)
    }
}

/// Defines a task's options struct with Gymnasium's defaults, the
/// by-name setter and getter, and the list of names.
///
/// After the fields, optional checks, in this order:
/// `nonnegative: a, b;` (each finite and ≥ 0), `ordered: a_min <= a_max, …;`
/// and `also: path;` (a function `fn(&Self) -> Result<(), &'static str>`
/// for anything else). Setting an option that would fail them is refused.
macro_rules! options {
    (
        $(#[$meta:meta])*
        $name:ident for $task:literal {
            $( $(#[doc = $doc:expr])* $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
        $( nonnegative: $($scale:ident),+ ; )?
        $( ordered: $($min:ident <= $max:ident),+ ; )?
        $( also: $also:path ; )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// The option names.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($field) ),*];

            /// The value of option `key` (booleans as 0/1).
            pub fn get(&self, key: &str) -> Option<f64> {
                use $crate::mujoco::options::OptionValue;
                match key {
                    $( stringify!($field) => Some(self.$field.to_option()), )*
                    _ => None,
                }
            }

            /// The checks declared after the fields, in order.
            fn check(&self) -> Result<(), &'static str> {
                $($(
                    $crate::mujoco::options::check_nonnegative(
                        self.$scale,
                        concat!(stringify!($scale), " must be finite and ≥ 0"),
                    )?;
                )+)?
                $($(
                    $crate::mujoco::options::check_range(
                        self.$min,
                        self.$max,
                        concat!(stringify!($min), " > ", stringify!($max)),
                    )?;
                )+)?
                $( $also(self)?; )?
                Ok(())
            }

            /// Checks the options (ranges, scales).
            ///
            /// # Errors
            /// [`MujocoError::BadOptions`](crate::mujoco::MujocoError::BadOptions).
            pub fn validate(&self) -> Result<(), $crate::mujoco::MujocoError> {
                self.check().map_err(|reason| $crate::mujoco::MujocoError::BadOptions {
                    task: $task,
                    reason: reason.to_owned(),
                })
            }

            /// Sets option `key` and checks the result.
            ///
            /// # Errors
            /// Unknown key or bad value; `self` is unchanged then.
            pub fn set(&mut self, key: &str, value: f64) -> Result<(), $crate::mujoco::MujocoError> {
                use $crate::mujoco::MujocoError;
                use $crate::mujoco::options::OptionValue;
                let bad = |reason: &str| MujocoError::BadOption {
                    task: $task,
                    key: key.to_owned(),
                    value,
                    reason: reason.to_owned(),
                };
                let mut next = *self;
                match key {
                    $( stringify!($field) => next.$field = <$ty>::from_option(value).map_err(bad)?, )*
                    _ => {
                        return Err(MujocoError::UnknownOption {
                            task: $task,
                            key: key.to_owned(),
                            valid: Self::NAMES.join(", "),
                        })
                    }
                }
                next.check().map_err(bad)?;
                *self = next;
                Ok(())
            }
        }
    };
}
pub(crate) use options;

/// Checks that the range `[min, max]` is not empty; `what` says which.
pub(crate) fn check_range(min: f64, max: f64, what: &'static str) -> Result<(), &'static str> {
    if min <= max { Ok(()) } else { Err(what) }
}

/// Checks that `s` is finite and ≥ 0; `what` says which.
pub(crate) fn check_nonnegative(s: f64, what: &'static str) -> Result<(), &'static str> {
    if s.is_finite() && s >= 0.0 {
        Ok(())
    } else {
        Err(what)
    }
}

#[cfg(test)]
mod tests {
    use crate::mujoco::{AntOptions, HopperOptions, MujocoError, ReacherOptions};

    fn reason(e: MujocoError) -> String {
        match e {
            MujocoError::BadOption { reason, .. } | MujocoError::BadOptions { reason, .. } => {
                reason
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn declared_checks_refuse_bad_values_with_their_reasons() {
        let mut o = HopperOptions::default();
        let e = o.set("reset_noise_scale", -1.0).unwrap_err();
        assert_eq!(reason(e), "reset_noise_scale must be finite and ≥ 0");
        let e = o.set("healthy_angle_min", 1.0).unwrap_err();
        assert_eq!(reason(e), "healthy_angle_min > healthy_angle_max");
        assert_eq!(o, HopperOptions::default(), "a refused value is not set");
        let bad = HopperOptions {
            healthy_state_min: 200.0,
            ..HopperOptions::default()
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(reason(e), "healthy_state_min > healthy_state_max");

        let mut a = AntOptions::default();
        let e = a.set("contact_force_min", 2.0).unwrap_err();
        assert_eq!(reason(e), "contact_force_min > contact_force_max");
        let e = a.set("main_body", 14.0).unwrap_err();
        assert_eq!(reason(e), "main_body must be a body index in 1..14");
        a.set("main_body", 13.0).unwrap();

        // Reacher declares no checks.
        ReacherOptions::default()
            .set("reward_dist_weight", -3.0)
            .unwrap();
    }
}
