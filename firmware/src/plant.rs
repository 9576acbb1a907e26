//! The simulated plant that stands in for the real pendulum under QEMU.
//!
//! The physics is fixpo-core's `Pendulum` with other mass, length and
//! friction than the training task (the sim-to-real gap). The controller
//! reaches it only the way it would reach hardware: the angle through an
//! AS5600 encoder on an `embedded-hal` I²C bus and an [`AngleTracker`], the
//! torque through a PWM [`Motor`] driver (duty cycle + direction pin), paced
//! by a [`ControlPeriod`]. The simulated bus, PWM channel, pin and delay
//! below implement those `embedded-hal` 1.0 traits over the simulated
//! state, so the encoder's 12-bit quantisation and the PWM's duty
//! resolution are part of the plant. [`SimPlant`] implements fixpo-core's
//! `Env`, so rollouts and evaluation are fixpo-core's own code.

use core::cell::Cell;
use core::convert::Infallible;
use core::f32::consts::TAU;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::i2c::{ErrorType as I2cErrorType, I2c, Operation};
use embedded_hal::pwm::{ErrorType as PwmErrorType, SetDutyCycle};
use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_core::envs::Pendulum;
use fixpo_plant::{AngleTracker, As5600, ControlPeriod, Motor, RAW_COUNTS};

/// Physical parameters of the simulated plant. The training task is
/// Gymnasium's Pendulum-v1: m = 1 kg, l = 1 m, no friction.
pub const PLANT_MASS: f32 = 1.2;
/// Rod length of the simulated plant (m).
pub const PLANT_LENGTH: f32 = 1.1;
/// Viscous friction at the pivot of the simulated plant (N·m·s/rad).
pub const PLANT_FRICTION: f32 = 0.05;
/// Control rate (Hz): Pendulum's dt = 0.05 s.
pub const CONTROL_HZ: u32 = 20;
/// PWM timer resolution of the simulated motor driver.
const PWM_MAX_DUTY: u16 = 4095;

/// The simulated hardware's shared state: what the encoder sees and what
/// the motor driver last wrote.
pub struct Wires {
    angle: Cell<f32>,
    duty: Cell<u16>,
    forward: Cell<bool>,
    elapsed_ns: Cell<u64>,
}

impl Default for Wires {
    fn default() -> Self {
        Self::new()
    }
}

impl Wires {
    /// Shaft at 0 rad, motor off, clock at 0.
    pub const fn new() -> Self {
        Self {
            angle: Cell::new(0.0),
            duty: Cell::new(0),
            forward: Cell::new(true),
            elapsed_ns: Cell::new(0),
        }
    }

    /// Simulated time spent waiting for control periods (ns).
    #[allow(dead_code)] // for a debugger; the adaptation log counts episodes
    pub fn elapsed_ns(&self) -> u64 {
        self.elapsed_ns.get()
    }

    /// The 12-bit reading of a magnet at `angle` rad (upright = 0).
    fn raw_angle(angle: f32) -> u16 {
        let turns = angle / TAU;
        let frac = turns - libm::floorf(turns);
        ((frac * RAW_COUNTS as f32 + 0.5) as u32 % RAW_COUNTS) as u16
    }
}

/// The AS5600's I²C side: answers RAW ANGLE and STATUS reads.
pub struct SimI2c<'w>(&'w Wires);

impl I2cErrorType for SimI2c<'_> {
    type Error = Infallible;
}

impl I2c for SimI2c<'_> {
    fn transaction(
        &mut self,
        _address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let mut reg = 0u8;
        for op in operations {
            match op {
                Operation::Write(bytes) => reg = bytes.first().copied().unwrap_or(reg),
                Operation::Read(buf) => {
                    let raw = Wires::raw_angle(self.0.angle.get());
                    for (i, b) in buf.iter_mut().enumerate() {
                        *b = match reg.wrapping_add(i as u8) {
                            0x0B => 1 << 5, // STATUS: magnet detected
                            0x0C => (raw >> 8) as u8,
                            0x0D => raw as u8,
                            _ => 0,
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

/// The motor driver's PWM channel.
pub struct SimPwm<'w>(&'w Wires);

impl PwmErrorType for SimPwm<'_> {
    type Error = Infallible;
}

impl SetDutyCycle for SimPwm<'_> {
    fn max_duty_cycle(&self) -> u16 {
        PWM_MAX_DUTY
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Self::Error> {
        self.0.duty.set(duty.min(PWM_MAX_DUTY));
        Ok(())
    }
}

/// The motor driver's direction pin (high = forward = positive torque).
pub struct SimDir<'w>(&'w Wires);

impl PinErrorType for SimDir<'_> {
    type Error = Infallible;
}

impl OutputPin for SimDir<'_> {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.forward.set(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.0.forward.set(true);
        Ok(())
    }
}

/// A delay that advances simulated time instead of spinning: under QEMU
/// wall-clock pacing would only slow the test down.
pub struct SimDelay<'w>(&'w Wires);

impl DelayNs for SimDelay<'_> {
    fn delay_ns(&mut self, ns: u32) {
        let w = self.0;
        w.elapsed_ns.set(w.elapsed_ns.get() + u64::from(ns));
    }
}

/// The pendulum plant as the controller sees it.
pub struct SimPlant<'w> {
    wires: &'w Wires,
    physics: Pendulum,
    encoder: As5600<SimI2c<'w>>,
    tracker: AngleTracker,
    motor: Motor<SimPwm<'w>, SimDir<'w>>,
    period: ControlPeriod<SimDelay<'w>>,
    swap_at_ns: Option<u64>,
    swapped: bool,
}

impl<'w> SimPlant<'w> {
    /// The mismatched plant, with episodes of `episode_steps` control
    /// periods.
    pub fn new(wires: &'w Wires, episode_steps: u32) -> Self {
        let mut physics = Pendulum::new();
        physics.m = PLANT_MASS;
        physics.l = PLANT_LENGTH;
        physics.friction = PLANT_FRICTION;
        physics.max_episode_steps = episode_steps;
        let dt = physics.dt;
        let max_torque = physics.max_torque;
        Self {
            wires,
            physics,
            encoder: As5600::new(SimI2c(wires)),
            tracker: AngleTracker::new(0, dt),
            motor: Motor::new(SimPwm(wires), SimDir(wires), max_torque),
            period: ControlPeriod::from_hz(SimDelay(wires), CONTROL_HZ),
            swap_at_ns: None,
            swapped: false,
        }
    }

    /// Swaps the motor's two wires once the simulated clock reaches `ns`
    /// (every torque acts the other way from then on): a plant change in
    /// mid-run, for the rollback test.
    pub fn swap_wires_at(&mut self, ns: u64) {
        self.swap_at_ns = Some(ns);
    }

    /// Reads the encoder and returns the observation `[cos θ, sin θ, θ̇]`.
    fn sense(&mut self) -> [f32; 3] {
        self.wires.angle.set(self.physics.state()[0]);
        // The simulated bus cannot fail; a real board would count misses
        // and hold the last reading.
        let raw = self.encoder.raw_angle().unwrap_or(0);
        let (_, velocity) = self.tracker.update(raw);
        let angle = self.tracker.wrapped_angle();
        [libm::cosf(angle), libm::sinf(angle), velocity]
    }

    /// The torque the motor driver is producing, from its PWM and pin.
    fn torque(&self) -> f32 {
        let magnitude =
            f32::from(self.wires.duty.get()) / f32::from(PWM_MAX_DUTY) * self.motor.max_torque();
        if self.wires.forward.get() != self.swapped {
            magnitude
        } else {
            -magnitude
        }
    }
}

impl SafeStop for SimPlant<'_> {
    fn stop_motor(&mut self) {
        if self.motor.stop().is_err() {
            // Infallible on the simulated pins.
        }
    }
}

/// A plant whose motor can be stopped at any time (while flash is written,
/// which stalls the CPU for up to a second on some parts).
pub trait SafeStop {
    /// Motor off.
    fn stop_motor(&mut self);
}

impl<T: SafeStop + ?Sized> SafeStop for &mut T {
    fn stop_motor(&mut self) {
        (**self).stop_motor();
    }
}

impl Env<3, 1> for SimPlant<'_> {
    fn action_space(&self) -> ActionSpace<1> {
        self.physics.action_space()
    }

    fn reset<R: rand_core::RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 3] {
        if self.motor.stop().is_err() {
            // Infallible on the simulated pins.
        }
        self.physics.reset(rng);
        // The encoder has been running before the episode starts: give the
        // tracker the reading one period earlier so the first velocity is
        // the plant's, not 0.
        let [th, thdot] = self.physics.state();
        self.tracker = AngleTracker::new(0, self.physics.dt);
        self.wires.angle.set(th - thdot * self.physics.dt);
        let raw = Wires::raw_angle(self.wires.angle.get());
        self.tracker.update(raw);
        self.sense()
    }

    fn step(&mut self, action: &[f32; 1]) -> Step<3> {
        if let Some(t) = self.swap_at_ns {
            if self.wires.elapsed_ns() >= t {
                defmt::warn!("plant: motor wires swapped at {=u64} s", t / 1_000_000_000);
                self.swap_at_ns = None;
                self.swapped = true;
            }
        }
        if self.motor.apply(action[0]).is_err() {
            // Infallible on the simulated pins.
        }
        let mut step = self.physics.step(&[self.torque()]);
        // Busy time is not measured under QEMU (no cycle counter): the
        // period is paced as if the step took no time.
        if self.period.wait(0).is_err() {
            defmt::warn!("control period overrun");
        }
        step.obs = self.sense();
        if step.terminated || step.truncated {
            let _ = self.motor.stop();
        }
        step
    }
}
