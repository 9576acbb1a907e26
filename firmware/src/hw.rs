//! The real plant: a pendulum on a motor, reached through fixpo-plant's
//! embedded-hal 1.0 drivers (AS5600 encoder on I²C, PWM + direction
//! motor), paced by a hardware timer, feeding a watchdog.
//!
//! [`HwPlant`] implements fixpo-core's `Env`, so the controller, the
//! evaluation and the adaptation round drive it exactly as they drive the
//! simulated plant under QEMU. It never fails a step: any fault (encoder
//! bus error, lost magnet, motor driver error, repeated overruns) stops the
//! motor, ends the episode as terminated and latches in [`HwPlant::fault`];
//! from then on every step keeps the motor off. The board then stays in its
//! safe stop ([`safe_stop`]).

use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_plant::{AngleTracker, As5600, Motor, Overrun};

use crate::control::{ACT, ActionSource, OBS};

use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use embedded_hal::pwm::SetDutyCycle;

/// A hardware timer that starts a control period at a fixed rate.
pub trait ControlTimer {
    /// Blocks until the next period starts.
    ///
    /// # Errors
    /// [`Overrun`] if that period had already started when called (the
    /// tick's work took longer than one period); the call then returns at
    /// once, so the loop resynchronises with the timer.
    fn wait_period(&mut self) -> Result<(), Overrun>;

    /// As [`wait_period`](Self::wait_period), calling `idle` (the host
    /// link's service, [`crate::serve`]) while waiting: at least once, and
    /// again and again while the period has not ended, so a board serves
    /// the link many times per control period instead of once. `idle`
    /// must be short next to a period (one request's work).
    ///
    /// The default calls `idle` once, then waits; a board overrides it to
    /// keep calling `idle` until the period ends.
    ///
    /// # Errors
    /// As [`wait_period`](Self::wait_period): [`Overrun`] if the period
    /// had already started when called (`idle` still runs once, so an
    /// overrunning loop keeps its link).
    fn wait_period_serving(&mut self, idle: &mut dyn FnMut()) -> Result<(), Overrun> {
        idle();
        self.wait_period()
    }
}

/// The watchdog the control loop feeds once per period.
pub trait Watchdog {
    /// Restarts the watchdog's countdown.
    fn feed(&mut self);
}

/// Why the plant stopped the motor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
#[non_exhaustive]
pub enum Fault {
    /// The encoder's I²C transaction failed.
    EncoderBus,
    /// The encoder reports no magnet: the angle would be meaningless.
    NoMagnet,
    /// The motor driver's PWM or direction pin refused a write.
    Motor,
    /// More than [`HwConfig::max_overruns`] periods in a row overran.
    Overruns,
}

/// The rig's constants (one set per board's pin map; see each board's
/// `src/main.rs`).
#[derive(Debug, Clone, Copy)]
pub struct HwConfig {
    /// Raw encoder reading with the pendulum upright (θ = 0).
    pub encoder_zero: u16,
    /// Control period in seconds (the timer's period).
    pub dt: f32,
    /// Torque (N·m) at full PWM duty; actions are clipped to ±this.
    pub max_torque: f32,
    /// Steps per episode (the adaptation rollout length).
    pub episode_steps: u32,
    /// Periods the motor stays off before an episode starts, so the
    /// pendulum settles.
    pub settle_periods: u32,
    /// Overrun periods in a row tolerated before [`Fault::Overruns`].
    pub max_overruns: u32,
}

/// The real pendulum as an `Env<3, 1>`: observation `[cos θ, sin θ, θ̇]`,
/// action the motor torque, reward Gymnasium Pendulum's
/// `−(θ² + 0.1·θ̇² + 0.001·u²)` on the state before the step.
pub struct HwPlant<I, P, D, T, W> {
    encoder: As5600<I>,
    tracker: AngleTracker,
    motor: Motor<P, D>,
    timer: T,
    dog: W,
    cfg: HwConfig,
    steps: u32,
    overruns: u32,
    fault: Option<Fault>,
    /// Angle and velocity of the last reading.
    state: [f32; 2],
}

impl<I, P, D, T, W> HwPlant<I, P, D, T, W>
where
    I: I2c,
    P: SetDutyCycle,
    D: OutputPin,
    T: ControlTimer,
    W: Watchdog,
{
    /// The plant on these peripherals; checks the encoder's magnet once and
    /// stops the motor.
    pub fn new(i2c: I, pwm: P, dir: D, timer: T, dog: W, cfg: HwConfig) -> Self {
        let mut plant = Self {
            encoder: As5600::new(i2c),
            tracker: AngleTracker::new(cfg.encoder_zero, cfg.dt),
            motor: Motor::new(pwm, dir, cfg.max_torque),
            timer,
            dog,
            cfg,
            steps: 0,
            overruns: 0,
            fault: None,
            state: [0.0; 2],
        };
        plant.stop();
        match plant.encoder.check_magnet() {
            Ok(status) if status.too_weak || status.too_strong => defmt::warn!(
                "encoder magnet out of range (weak {=bool}, strong {=bool})",
                status.too_weak,
                status.too_strong
            ),
            Ok(_) => defmt::info!("encoder ok"),
            Err(fixpo_plant::EncoderError::MagnetNotDetected) => plant.trip(Fault::NoMagnet),
            Err(_) => plant.trip(Fault::EncoderBus),
        }
        plant
    }

    /// The latched fault, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// Motor off (duty 0). A driver that refuses latches [`Fault::Motor`].
    pub fn stop(&mut self) {
        if self.motor.stop().is_err() {
            self.fault.get_or_insert(Fault::Motor);
        }
    }

    /// Latches `fault` (the first one stays) and stops the motor.
    fn trip(&mut self, fault: Fault) {
        if self.fault.is_none() {
            defmt::error!("plant fault: {}, motor off", fault);
        }
        self.fault.get_or_insert(fault);
        self.stop();
    }

    /// Waits for the next period and feeds the watchdog.
    fn tick(&mut self) {
        let paced = self.timer.wait_period();
        self.paced(paced);
    }

    /// As [`tick`](Self::tick), serving the link while waiting
    /// ([`ControlTimer::wait_period_serving`]).
    fn tick_serving(&mut self, idle: &mut dyn FnMut()) {
        let paced = self.timer.wait_period_serving(idle);
        self.paced(paced);
    }

    /// Counts overruns (a fault after too many in a row) and feeds the
    /// watchdog.
    fn paced(&mut self, paced: Result<(), Overrun>) {
        match paced {
            Ok(()) => self.overruns = 0,
            Err(o) => {
                self.overruns += 1;
                defmt::warn!("control period overrun: {}", o);
                if self.overruns > self.cfg.max_overruns {
                    self.trip(Fault::Overruns);
                }
            }
        }
        self.dog.feed();
    }

    /// Reads the encoder into the tracker; on a fault keeps the last state.
    fn sense(&mut self) -> [f32; OBS] {
        if self.fault.is_none() {
            match self.encoder.raw_angle() {
                Ok(raw) => {
                    let (_, velocity) = self.tracker.update(raw);
                    self.state = [self.tracker.wrapped_angle(), velocity];
                }
                Err(_) => self.trip(Fault::EncoderBus),
            }
        }
        let [th, thdot] = self.state;
        [libm::cosf(th), libm::sinf(th), thdot]
    }

    /// Motor off for `periods` control periods, still pacing and feeding
    /// the watchdog.
    pub fn idle(&mut self, periods: u32) {
        self.stop();
        for _ in 0..periods {
            self.tick();
        }
    }

    /// [`Env::reset`], with `idle` (when given) serving the link through
    /// every period waited.
    fn reset_with(&mut self, mut idle: Option<&mut dyn FnMut()>) -> [f32; OBS] {
        self.stop();
        for _ in 0..self.cfg.settle_periods {
            self.wait(idle.as_deref_mut());
        }
        self.tracker = AngleTracker::new(self.cfg.encoder_zero, self.cfg.dt);
        self.steps = 0;
        self.sense();
        self.wait(idle);
        self.sense()
    }

    /// [`Env::step`], with `idle` (when given) serving the link while the
    /// period runs out.
    fn step_with(&mut self, action: &[f32; ACT], idle: Option<&mut dyn FnMut()>) -> Step<OBS> {
        let [th, thdot] = self.state;
        let u = if action[0].is_finite() {
            action[0].clamp(-self.cfg.max_torque, self.cfg.max_torque)
        } else {
            0.0
        };
        if self.fault.is_none() && self.motor.apply(u).is_err() {
            self.trip(Fault::Motor);
        }
        self.wait(idle);
        let obs = self.sense();
        self.steps += 1;
        let terminated = self.fault.is_some();
        if terminated {
            self.stop();
        }
        Step {
            obs,
            reward: -(th * th + 0.1 * thdot * thdot + 0.001 * u * u),
            terminated,
            truncated: !terminated && self.steps >= self.cfg.episode_steps,
        }
    }

    /// One period: [`tick`](Self::tick), or
    /// [`tick_serving`](Self::tick_serving) with `idle`.
    fn wait<'f>(&mut self, idle: Option<&mut (dyn FnMut() + 'f)>) {
        match idle {
            Some(idle) => self.tick_serving(idle),
            None => self.tick(),
        }
    }
}

impl<I, P, D, T, W> crate::serve::Paced for HwPlant<I, P, D, T, W>
where
    I: I2c,
    P: SetDutyCycle,
    D: OutputPin,
    T: ControlTimer,
    W: Watchdog,
{
    /// Serves the link through the whole control period
    /// ([`ControlTimer::wait_period_serving`]), not once after it.
    fn step_serving(&mut self, action: &[f32; ACT], idle: &mut dyn FnMut()) -> Step<OBS> {
        self.step_with(action, Some(idle))
    }

    /// Serves the link through the settling periods of the reset.
    fn reset_serving<R: rand_core::RngCore + ?Sized>(
        &mut self,
        _rng: &mut R,
        idle: &mut dyn FnMut(),
    ) -> [f32; OBS] {
        self.reset_with(Some(idle))
    }
}

impl<I, P, D, T, W> crate::plant::SafeStop for HwPlant<I, P, D, T, W>
where
    I: I2c,
    P: SetDutyCycle,
    D: OutputPin,
    T: ControlTimer,
    W: Watchdog,
{
    fn stop_motor(&mut self) {
        self.stop();
    }
}

impl<I, P, D, T, W> Env<OBS, ACT> for HwPlant<I, P, D, T, W>
where
    I: I2c,
    P: SetDutyCycle,
    D: OutputPin,
    T: ControlTimer,
    W: Watchdog,
{
    fn action_space(&self) -> ActionSpace<ACT> {
        ActionSpace::Continuous {
            low: [-self.cfg.max_torque],
            high: [self.cfg.max_torque],
        }
    }

    /// Motor off, let the pendulum settle, then two readings (the second
    /// gives the first velocity). The real start state is wherever the
    /// pendulum is: `rng` is not used.
    fn reset<R: rand_core::RngCore + ?Sized>(&mut self, _rng: &mut R) -> [f32; OBS] {
        self.reset_with(None)
    }

    fn step(&mut self, action: &[f32; ACT]) -> Step<OBS> {
        self.step_with(action, None)
    }
}

/// Runs `source` on `plant` episode after episode until the plant faults;
/// returns the fault. Each step logs nothing; each episode logs its return.
pub fn control<E, S>(plant: &mut E, source: &mut S, fault: impl Fn(&E) -> Option<Fault>) -> Fault
where
    E: Env<OBS, ACT>,
    S: ActionSource,
{
    let mut rng = fixpo_core::rng::Pcg32::new(0, 0);
    let mut episode = 0u32;
    loop {
        let mut obs = plant.reset(&mut rng);
        let mut ret = 0.0;
        let mut action = [0.0f32; ACT];
        loop {
            if let Some(f) = fault(plant) {
                return f;
            }
            source.act(&obs, &mut action);
            let step = plant.step(&action);
            ret += step.reward;
            obs = step.obs;
            if step.terminated || step.truncated {
                break;
            }
        }
        defmt::info!("episode {=u32}: return {=f32}", episode, ret);
        episode = episode.wrapping_add(1);
    }
}

/// The safe stop: motor off for good. Keeps pacing and feeding the
/// watchdog (a deliberate stop must not turn into a reset loop that
/// restarts the motor) and calls `blink` once per period with the period
/// count, for the board's LED. Never returns.
pub fn safe_stop<I, P, D, T, W>(plant: &mut HwPlant<I, P, D, T, W>, mut blink: impl FnMut(u32)) -> !
where
    I: I2c,
    P: SetDutyCycle,
    D: OutputPin,
    T: ControlTimer,
    W: Watchdog,
{
    defmt::error!("safe stop: motor off ({})", plant.fault());
    let mut n = 0u32;
    loop {
        plant.stop();
        plant.tick();
        blink(n);
        n = n.wrapping_add(1);
    }
}
