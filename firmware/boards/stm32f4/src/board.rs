//! The real STM32F4 board: pin map, drivers, watchdog, and the boot →
//! (adapt) → control → safe-stop sequence.
//!
//! Pin map (Nucleo-F446RE Arduino header names; the STM32F405 uses the same
//! port pins):
//!
//! | signal | pin | peripheral |
//! | --- | --- | --- |
//! | AS5600 SCL | PB8 (D15) | I2C1, 400 kHz |
//! | AS5600 SDA | PB9 (D14) | I2C1 |
//! | motor PWM | PA8 (D7) | TIM1_CH1, 20 kHz |
//! | motor DIR | PA9 (D8) | GPIO out, high = positive torque |
//! | LED | PA5 (D13, LD2) | GPIO out |
//!
//! TIM2 paces the control loop at 20 Hz; the IWDG resets the chip if the
//! loop stops feeding it. After any reset the pins are inputs, so a motor
//! driver whose PWM input has a pull-down stays off.
//!
//! The policy store (`fixpo_firmware::persist` over `src/store_flash.rs`)
//! is opened at boot, with the motor stopped: the flashed policy becomes
//! its factory record on first boot, and the newest committed policy (else
//! the factory one, else the flashed region) is the one deployed; with
//! `adapt`, accepted policies are committed and rollbacks reload them.

use cortex_m_rt::{ExceptionFrame, entry, exception};
use defmt_rtt as _; // defmt over RTT (probe-rs prints it)
use panic_probe as _; // panic → defmt message → HardFault below
use stm32f4xx_hal::pac;
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config;
use stm32f4xx_hal::timer::CounterHz;
use stm32f4xx_hal::watchdog::IndependentWatchdog;

use fixpo_core::adapt::Loaded;
use fixpo_firmware::boot;
use fixpo_firmware::control::{ACT, OBS};
use fixpo_firmware::hw::{self, ControlTimer, HwConfig, HwPlant, Watchdog};
use fixpo_firmware::mem::{self, FILE_LEN, Memory};
use fixpo_firmware::persist::{self, Persist};
use fixpo_plant::Overrun;
use fixpo_store::Layout;

use crate::store_flash::{SECTOR_LEN, StoreFlash};

/// Control rate (Hz): Pendulum's dt = 0.05 s.
const CONTROL_HZ: u32 = 20;

/// The rig: calibrate `encoder_zero` (the raw AS5600 reading with the
/// pendulum upright, `defmt` prints it at boot) and `max_torque` (the
/// torque at full duty) for your motor.
const RIG: HwConfig = HwConfig {
    encoder_zero: 0,
    dt: 1.0 / CONTROL_HZ as f32,
    max_torque: 2.0,
    episode_steps: fixpo_firmware::mem::ROLLOUT as u32,
    settle_periods: 3 * CONTROL_HZ,
    max_overruns: 2,
};

/// Watchdog timeout while the store may erase: a 128 KiB sector erase
/// stalls the CPU for 2 s at worst (the chip's datasheet), and the IWDG's
/// clock (LSI, nominally 32 kHz, which the HAL assumes) may run up to
/// 47 kHz, so the real period may be 0.68 × this: 5.4 s, still above the
/// stall. The flash driver feeds the IWDG right before each erase and
/// each program. In force at boot (open, provisioning) and, with `adapt`,
/// throughout.
const STORE_WATCHDOG_MS: u32 = 8_000;

/// Watchdog timeout while controlling: a few control periods; with
/// `adapt`, long enough for one FixPO update (between episodes, motor
/// stopped) and for a store write.
#[cfg(not(feature = "adapt"))]
const WATCHDOG_MS: u32 = 250;
#[cfg(feature = "adapt")]
const WATCHDOG_MS: u32 = STORE_WATCHDOG_MS;

/// The store's layout over its three sectors (offset 0 = `__store_start`):
/// factory area, bank 0, bank 1, one 128 KiB sector each (13 records of the
/// 3→32×32→1 file per bank: docs/store.md).
const LAYOUT: Option<Layout> = Layout::with_body(0, FILE_LEN, SECTOR_LEN, 4, SECTOR_LEN as usize);

// The layout is exactly the three sectors of memory-*.x (a build error
// otherwise).
const _: () = match LAYOUT {
    Some(l) => {
        assert!(l.factory_len == SECTOR_LEN && matches!(l.len(), Some(n) if n == 3 * SECTOR_LEN))
    }
    None => panic!("the policy file does not fit a 128 KiB store sector"),
};

/// `adapt`: adaptation rounds (episode + update) at boot.
#[cfg(feature = "adapt")]
const ADAPT_ROUNDS: u32 = 20;

/// TIM2 as the control timer.
struct Tick(CounterHz<pac::TIM2>);

impl ControlTimer for Tick {
    fn wait_period(&mut self) -> Result<(), Overrun> {
        let period_ns = 1_000_000_000 / CONTROL_HZ;
        // The update flag already set: the period ended during the work.
        match self.0.wait() {
            Ok(()) => {
                return Err(Overrun {
                    busy_ns: period_ns,
                    period_ns,
                });
            }
            Err(nb::Error::WouldBlock) => {}
            Err(nb::Error::Other(_)) => {}
        }
        let _ = nb::block!(self.0.wait());
        Ok(())
    }
}

/// The IWDG.
struct Dog(IndependentWatchdog);

impl Watchdog for Dog {
    fn feed(&mut self) {
        self.0.feed();
    }
}

#[entry]
fn main() -> ! {
    mem::paint_stack();
    let Some(dp) = pac::Peripherals::take() else {
        // Only a second call fails; there is none.
        loop {
            cortex_m::asm::wfi();
        }
    };
    #[cfg(feature = "stm32f446")]
    let clocks = Config::hse(8.MHz())
        .bypass_hse_oscillator()
        .sysclk(180.MHz());
    #[cfg(feature = "stm32f405")]
    let clocks = Config::hse(8.MHz()).sysclk(168.MHz());
    let mut rcc = dp.RCC.freeze(clocks);

    let mut iwdg = IndependentWatchdog::new(dp.IWDG);
    iwdg.stop_on_debug(&dp.DBGMCU, true);
    iwdg.start(STORE_WATCHDOG_MS.millis());

    let gpioa = dp.GPIOA.split(&mut rcc);
    let gpiob = dp.GPIOB.split(&mut rcc);
    let mut led = gpioa.pa5.into_push_pull_output();
    let i2c = dp.I2C1.i2c((gpiob.pb8, gpiob.pb9), 400.kHz(), &mut rcc);
    let (_pwm_manager, (ch1, ..)) = dp.TIM1.pwm_hz(20.kHz(), &mut rcc);
    let mut pwm = ch1.with(gpioa.pa8);
    pwm.set_duty(0);
    pwm.enable();
    let dir = gpioa.pa9.into_push_pull_output();

    // The store and the policy, motor stopped (duty 0 above).
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let mut memory = mem::take();
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let (mut persist, loaded) = boot_policy(dp.FLASH, &mut memory);
    // From here the control period's watchdog (the IWDG takes a new period
    // only once the previous update is done: wait for it).
    wait_watchdog_update();
    iwdg.start(WATCHDOG_MS.millis());

    let mut timer = dp.TIM2.counter_hz(&mut rcc);
    if timer.start(CONTROL_HZ.Hz()).is_err() {
        defmt::error!("control timer did not start");
    }
    defmt::info!(
        "fixpo stm32f4 up: sysclk {=u32} Hz, control {=u32} Hz, watchdog {=u32} ms",
        rcc.clocks.sysclk().raw(),
        CONTROL_HZ,
        WATCHDOG_MS
    );

    let mut plant = HwPlant::new(i2c, pwm, dir, Tick(timer), Dog(iwdg), RIG);
    let Ok(loaded) = loaded else {
        // LED at 10 Hz: no valid policy.
        hw::safe_stop(&mut plant, |_| led.toggle())
    };
    if plant.fault().is_some() {
        // LED at 1 Hz: plant fault.
        hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n));
    }

    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let mut deploy = loaded.deploy;
    #[cfg(feature = "adapt")]
    // Without a factory record `adapt_on` leaves the store alone: on the
    // F446 the flashed region (in bank 1's sector) may then be the only
    // copy of the flashed policy.
    let actor = boot::adapt_on(
        &mut memory,
        &mut deploy,
        &mut plant,
        ADAPT_ROUNDS,
        persist.as_mut(),
    );
    // Without `adapt` nothing is written after boot.
    #[cfg(not(feature = "adapt"))]
    let _ = persist;
    #[cfg(not(feature = "adapt"))]
    let actor = boot::stage(memory.scratch, memory.learner, &deploy);

    led.set_high(); // LED on: controlling
    let fault = hw::control(&mut plant, actor, |p| p.fault());
    defmt::error!("control stopped: {}", fault);
    hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n))
}

/// Opens the store over its flash sectors, provisions its factory record
/// from the flashed policy region on first boot and loads the newest
/// committed policy (else the factory one) into the learner; without a
/// store, or if nothing in it loads, decodes the flashed region as before.
fn boot_policy(
    flash: pac::FLASH,
    memory: &mut Memory,
) -> (
    Option<Persist<StoreFlash>>,
    Result<Loaded<OBS, ACT>, boot::NoPolicy>,
) {
    let learner = &mut *memory.learner;
    let mut persist = StoreFlash::new(flash).and_then(|f| LAYOUT.and_then(|l| persist::open(f, l)));
    let mut from_store = None;
    if let Some(p) = persist.as_mut() {
        // `provision` reads the region only while the store has no factory
        // record: on the F446 it shares bank 1's sector, which later writes
        // reuse.
        p.provision(boot::region_policy, learner);
        from_store = p.load(learner, memory.scratch.file());
    }
    let loaded = match from_store {
        Some((_, loaded)) => Ok(loaded),
        None => boot::decode(boot::region_policy(), learner),
    };
    (persist, loaded)
}

/// Waits until the IWDG has taken its last prescaler and reload values
/// (IWDG_SR PVU and RVU clear), so a new period is not ignored.
fn wait_watchdog_update() {
    // SAFETY: a read of IWDG_SR, a status register without side effects.
    let sr = unsafe { (*pac::IWDG::ptr()).sr() };
    while sr.read().pvu().bit_is_set() || sr.read().rvu().bit_is_set() {}
}

fn blink_slow(led: &mut impl embedded_hal::digital::StatefulOutputPin, n: u32) {
    if n % (CONTROL_HZ / 2) == 0 {
        let _ = led.toggle();
    }
}

/// Any fault (and a panic, through panic-probe): cut the motor's PWM at
/// the timer, then wait for the watchdog to reset the chip.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    // SAFETY: single register writes to TIM1, which nothing else touches
    // once the program has faulted; main output off = PWM pins idle low.
    unsafe {
        let tim1 = &*pac::TIM1::ptr();
        tim1.bdtr().modify(|_, w| w.moe().clear_bit());
        tim1.ccer().reset();
    }
    defmt::error!(
        "HardFault at pc={=u32:#010x}: motor off, waiting for the watchdog",
        frame.pc()
    );
    loop {
        cortex_m::asm::nop();
    }
}
