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
//! | link TX (`link`) | PA2 (ST-Link VCP on the Nucleo) | USART2 AF7, 115 200 8N1 |
//! | link RX (`link`) | PA3 (ST-Link VCP on the Nucleo) | USART2 AF7 |
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
//!
//! With `link`, the board serves the host link (`fixpo device`,
//! docs/protocol.md) on USART2 (`src/link_uart.rs`) instead of only
//! controlling: `fixpo_firmware::serve` runs the deployed policy on the
//! pendulum and, all through each control period's wait, answers status,
//! push, pull, adaptation and reset requests (a pushed policy is committed
//! to the store and runs from the next tick; a reset request reboots).

#[cfg(feature = "link")]
use core::sync::atomic::{AtomicU32, Ordering};

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

#[cfg(feature = "link")]
use crate::link_uart::LinkUart;
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
/// `adapt` or `link` (a push or an adaptation on request), long enough for
/// one FixPO update (between episodes, motor stopped) and for a store
/// write.
#[cfg(not(any(feature = "adapt", feature = "link")))]
const WATCHDOG_MS: u32 = 250;
#[cfg(any(feature = "adapt", feature = "link"))]
const WATCHDOG_MS: u32 = STORE_WATCHDOG_MS;

/// Control periods since the timer started (`link`: the uptime `Status`
/// reports is this × 50 ms; an overrun counts as one period, so the
/// uptime lags by the periods a long flash erase swallowed).
#[cfg(feature = "link")]
static PERIODS: AtomicU32 = AtomicU32::new(0);

/// The STM32F4's 96-bit unique device id (RM0390 / RM0090, "Unique device
/// ID register"), at the same address on the F405 and the F446.
#[cfg(feature = "link")]
const UID_ADDR: usize = 0x1FFF_7A10;

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

/// The overrun `wait_period` reports (TIM2 only says that the period
/// ended, not when).
const OVERRUN: Overrun = Overrun {
    busy_ns: 1_000_000_000 / CONTROL_HZ,
    period_ns: 1_000_000_000 / CONTROL_HZ,
};

impl Tick {
    /// Whether TIM2's update flag is set (a period ended); clears it.
    fn period_ended(&mut self) -> bool {
        let ended = self.0.wait().is_ok();
        #[cfg(feature = "link")]
        if ended {
            PERIODS.fetch_add(1, Ordering::Relaxed);
        }
        ended
    }
}

impl ControlTimer for Tick {
    fn wait_period(&mut self) -> Result<(), Overrun> {
        // The update flag already set: the period ended during the work.
        if self.period_ended() {
            return Err(OVERRUN);
        }
        while !self.period_ended() {}
        Ok(())
    }

    /// Serves the link (`idle`) until TIM2's period ends: the link's
    /// latency is one request's handling, not a control period.
    fn wait_period_serving(&mut self, idle: &mut dyn FnMut()) -> Result<(), Overrun> {
        if self.period_ended() {
            idle();
            return Err(OVERRUN);
        }
        loop {
            idle();
            if self.period_ended() {
                return Ok(());
            }
        }
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
    #[cfg_attr(not(feature = "link"), allow(unused_mut))]
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
    #[cfg(feature = "link")]
    let port = LinkUart::new(dp.USART2, gpioa.pa2, gpioa.pa3, &mut rcc);

    // The store and the policy, motor stopped (duty 0 above).
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let mut memory = mem::take();
    #[cfg_attr(not(any(feature = "adapt", feature = "link")), allow(unused_mut))]
    let (mut persist, loaded, source) = boot_policy(dp.FLASH, &mut memory);
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

    #[cfg_attr(not(any(feature = "adapt", feature = "link")), allow(unused_mut))]
    let mut deploy = loaded.deploy;
    #[cfg(feature = "link")]
    match port {
        Some(port) => {
            led.set_high(); // LED on: controlling (and serving the link)
            serve_link(
                &mut memory,
                &mut deploy,
                source,
                &mut plant,
                port,
                persist.as_mut(),
            );
            defmt::error!("serve stopped");
            hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n))
        }
        None => defmt::error!("link: USART2 refused 115 200 baud; controlling without it"),
    }
    #[cfg(not(feature = "link"))]
    let _ = source;
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
    // Without `adapt` (or a link) nothing is written after boot.
    #[cfg(not(feature = "adapt"))]
    let _ = persist;
    #[cfg(not(feature = "adapt"))]
    let actor = boot::stage(memory.scratch, memory.learner, &deploy);

    led.set_high(); // LED on: controlling
    let fault = hw::control(&mut plant, actor, |p| p.fault());
    defmt::error!("control stopped: {}", fault);
    hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n))
}

/// Serves the link on `port` while the deployed policy controls `plant`
/// (`fixpo_firmware::serve`); reboots when the host asks for a reset.
/// Returns only if serving stops for another reason (it does not: no tick
/// budget).
#[cfg(feature = "link")]
fn serve_link<P: fixpo_firmware::serve::Paced>(
    memory: &mut Memory,
    deploy: &mut fixpo_core::adapt::Deploy<OBS, ACT>,
    source: persist::Source,
    plant: &mut P,
    port: LinkUart,
    persist: Option<&mut Persist<StoreFlash>>,
) {
    use fixpo_firmware::adapt::{SAFETY, SETTINGS};
    use fixpo_firmware::link::{Identity, Link};
    use fixpo_firmware::serve::{self, Exit, Hooks};

    let mut link = Link::new(
        port,
        Identity {
            device_id: device_id(),
            eps_kl: SETTINGS.update.eps_kl,
            eps_total: SAFETY.eps_total,
        },
    );
    let exit = serve::serve(
        memory,
        deploy,
        source,
        plant,
        &mut link,
        persist,
        Hooks {
            uptime_ms: &|| {
                PERIODS
                    .load(Ordering::Relaxed)
                    .wrapping_mul(1000 / CONTROL_HZ)
            },
            switched: &mut |_| {},
            ticks: None,
        },
    );
    defmt::info!(
        "serve: {}; {=u32} link bytes lost, {=u32} frames refused",
        exit,
        crate::link_uart::lost(),
        link.frame_errors()
    );
    if exit == Exit::Reset {
        cortex_m::peripheral::SCB::sys_reset();
    }
}

/// The chip's 96-bit unique id, zero-padded to the protocol's 16 bytes.
#[cfg(feature = "link")]
fn device_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().take(12).enumerate() {
        // SAFETY: the unique id is 12 readable bytes of system memory at
        // UID_ADDR on every STM32F4.
        *b = unsafe { core::ptr::read_volatile((UID_ADDR + i) as *const u8) };
    }
    id
}

/// Opens the store over its flash sectors, provisions its factory record
/// from the flashed policy region on first boot and loads the newest
/// committed policy (else the factory one) into the learner; without a
/// store, or if nothing in it loads, decodes the flashed region as before.
/// Also says where the policy came from.
fn boot_policy(
    flash: pac::FLASH,
    memory: &mut Memory,
) -> (
    Option<Persist<StoreFlash>>,
    Result<Loaded<OBS, ACT>, boot::NoPolicy>,
    persist::Source,
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
    let source = from_store
        .as_ref()
        .map_or(persist::Source::Given, |(s, _)| *s);
    let loaded = match from_store {
        Some((_, loaded)) => Ok(loaded),
        None => boot::decode(boot::region_policy(), learner),
    };
    (persist, loaded, source)
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
