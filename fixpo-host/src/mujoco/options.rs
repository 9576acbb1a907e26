//! The options machinery: every task's options struct is made by the
//! `options!` macro from a list of Gymnasium's keyword arguments with
//! their defaults, and can be read and set by name.

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
macro_rules! options {
    (
        $(#[$meta:meta])*
        $name:ident for $task:literal {
            $( $(#[doc = $doc:expr])* $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
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

/// Checks a `reset_noise_scale`.
pub(crate) fn check_scale(s: f64) -> Result<(), &'static str> {
    if s.is_finite() && s >= 0.0 {
        Ok(())
    } else {
        Err("reset_noise_scale must be finite and ≥ 0")
    }
}
