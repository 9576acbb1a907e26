//! fixpo firmware for the Raspberry Pi Pico 2 (RP2350, Cortex-M33F), on
//! rp235x-hal. See firmware/README.md for wiring, flashing and what the LED
//! and log say.
//!
//! Pin map (Pico 2 GPIO numbers, physical pins in brackets):
//!
//! | signal | pin | peripheral |
//! | --- | --- | --- |
//! | AS5600 SDA | GP4 (6) | I2C0, 400 kHz |
//! | AS5600 SCL | GP5 (7) | I2C0 |
//! | motor PWM | GP16 (21) | PWM slice 0 channel A, 20 kHz |
//! | motor DIR | GP17 (22) | SIO out, high = positive torque |
//! | LED | GP25 | on-board LED |
//!
//! TIMER0 (1 MHz) paces the control loop at 20 Hz; the watchdog resets the
//! chip if the loop stops feeding it. After any reset the pins are inputs,
//! so a motor driver whose PWM input has a pull-down stays off.
//!
//! The policy store (`fixpo_firmware::persist` over `src/store_flash.rs`,
//! the boot ROM's flash functions) is opened at boot with the motor
//! stopped: the flashed policy becomes its factory record on first boot,
//! and the newest committed policy (else the factory one, else the flashed
//! region) is deployed; with `adapt`, accepted policies are committed and
//! rollbacks reload them.
#![no_std]
#![no_main]

mod store_flash;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use defmt_rtt as _; // defmt over RTT (probe-rs prints it)
use embedded_hal::digital::{OutputPin, StatefulOutputPin};
use embedded_hal::pwm::SetDutyCycle;
use panic_probe as _; // panic → defmt message → HardFault below
use rp235x_hal::{self as hal, Clock, fugit::RateExtU32, pac};

use fixpo_core::adapt::Loaded;
use fixpo_firmware::boot;
use fixpo_firmware::control::{ACT, OBS};
use fixpo_firmware::hw::{self, ControlTimer, HwConfig, HwPlant, Watchdog};
use fixpo_firmware::mem::{self, FILE_LEN, Memory};
use fixpo_firmware::persist::{self, Persist};
use fixpo_plant::Overrun;
use fixpo_store::Layout;

use crate::store_flash::{PAGE, SECTOR, StoreFlash};

/// The boot ROM's IMAGE_DEF: a secure Arm executable.
#[unsafe(link_section = ".start_block")]
#[used]
static IMAGE_DEF: hal::block::ImageDef = hal::block::ImageDef::secure_exe();

/// The Pico 2's crystal.
const XOSC_HZ: u32 = 12_000_000;
/// Control rate (Hz): Pendulum's dt = 0.05 s.
const CONTROL_HZ: u32 = 20;
const PERIOD_US: u64 = 1_000_000 / CONTROL_HZ as u64;

/// The rig: calibrate `encoder_zero` (the raw AS5600 reading with the
/// pendulum upright) and `max_torque` (the torque at full duty).
const RIG: HwConfig = HwConfig {
    encoder_zero: 0,
    dt: 1.0 / CONTROL_HZ as f32,
    max_torque: 2.0,
    episode_steps: mem::ROLLOUT as u32,
    settle_periods: 3 * CONTROL_HZ,
    max_overruns: 2,
};

/// Watchdog timeout while the store may erase or program: a 64 KiB block
/// erase of the QSPI flash takes up to 2 s at worst (the driver feeds the
/// watchdog before each block and each page), so 8 s (the HAL's ceiling is
/// 8.38 s) leaves room even if the counter ran twice as fast. In force at
/// boot (open, provisioning) and, with `adapt`, throughout.
const STORE_WATCHDOG_US: u32 = 8_000_000;

/// Watchdog timeout while controlling: a few control periods; with
/// `adapt`, long enough for one FixPO update (between episodes, motor
/// stopped) and for a store write.
#[cfg(not(feature = "adapt"))]
const WATCHDOG_US: u32 = 250_000;
#[cfg(feature = "adapt")]
const WATCHDOG_US: u32 = STORE_WATCHDOG_US;

/// Bytes of the store before bank 0: the factory area sits at its end, so
/// the banks start 64 KiB-aligned (memory.x).
const FACTORY_SPAN: u32 = 64 * 1024;
/// A bank: 256 KiB, 25 records of the 3→32×32→1 file (docs/store.md).
const BANK: u32 = 256 * 1024;

/// The store's layout over its range (offset 0 = `__store_start`): the
/// factory area ending at `FACTORY_SPAN`, then the two banks.
const LAYOUT: Option<Layout> = match Layout::with_body(0, FILE_LEN, BANK, PAGE, SECTOR) {
    Some(l) if l.factory_len <= FACTORY_SPAN => {
        Layout::with_body(FACTORY_SPAN - l.factory_len, FILE_LEN, BANK, PAGE, SECTOR)
    }
    _ => None,
};

// The layout fills the 576 KiB of memory.x with the banks 64 KiB-aligned
// (a build error otherwise).
const _: () = match LAYOUT {
    Some(l) => assert!(
        l.base + l.factory_len == FACTORY_SPAN
            && matches!(l.len(), Some(n) if l.base + n == FACTORY_SPAN + 2 * BANK)
    ),
    None => panic!("the policy file does not fit the store's factory span"),
};

/// `adapt`: adaptation rounds (episode + update) at boot.
#[cfg(feature = "adapt")]
const ADAPT_ROUNDS: u32 = 20;

/// PWM slice 0 at 20 kHz from the 150 MHz system clock.
const PWM_TOP: u16 = 7_499;

/// TIMER0's 1 MHz counter as the control timer (deadline after deadline,
/// so the period does not drift with the work).
struct Tick {
    timer: hal::Timer<hal::timer::CopyableTimer0>,
    next: u64,
}

impl ControlTimer for Tick {
    fn wait_period(&mut self) -> Result<(), Overrun> {
        let now = self.timer.get_counter().ticks();
        if now > self.next {
            let busy_us = PERIOD_US + (now - self.next);
            self.next = now + PERIOD_US;
            return Err(Overrun {
                busy_ns: u32::try_from(busy_us * 1_000).unwrap_or(u32::MAX),
                period_ns: (PERIOD_US * 1_000) as u32,
            });
        }
        while self.timer.get_counter().ticks() < self.next {}
        self.next += PERIOD_US;
        Ok(())
    }
}

/// The RP2350 watchdog.
struct Dog(hal::Watchdog);

impl Watchdog for Dog {
    fn feed(&mut self) {
        self.0.feed();
    }
}

#[entry]
fn main() -> ! {
    mem::paint_stack();
    let Some(mut pac) = pac::Peripherals::take() else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        XOSC_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        defmt::error!("clock init failed: motor never started");
        loop {
            cortex_m::asm::wfi();
        }
    };
    watchdog.start(hal::fugit::MicrosDurationU32::micros(STORE_WATCHDOG_US));

    let sio = hal::Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let mut led = pins.gpio25.into_push_pull_output();
    let sda = pins
        .gpio4
        .reconfigure::<hal::gpio::FunctionI2C, hal::gpio::PullUp>();
    let scl = pins
        .gpio5
        .reconfigure::<hal::gpio::FunctionI2C, hal::gpio::PullUp>();
    let i2c = hal::I2C::i2c0(
        pac.I2C0,
        sda,
        scl,
        400.kHz(),
        &mut pac.RESETS,
        clocks.system_clock.freq(),
    );
    let slices = hal::pwm::Slices::new(pac.PWM, &mut pac.RESETS);
    let mut slice = slices.pwm0;
    slice.set_top(PWM_TOP);
    slice.enable();
    let mut pwm = slice.channel_a;
    let _ = pwm.set_duty_cycle(0);
    pwm.output_to(pins.gpio16);
    let dir = pins.gpio17.into_push_pull_output();

    // The store and the policy, motor stopped (duty 0 above).
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let mut memory = mem::take();
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let (mut persist, loaded) = boot_policy(&mut memory);
    // From here the control period's watchdog.
    watchdog.start(hal::fugit::MicrosDurationU32::micros(WATCHDOG_US));

    let timer = hal::Timer::new_timer0(pac.TIMER0, &mut pac.RESETS, &clocks);
    let next = timer.get_counter().ticks() + PERIOD_US;
    defmt::info!(
        "fixpo rp2350 up: sysclk {=u32} Hz, control {=u32} Hz, watchdog {=u32} us",
        clocks.system_clock.freq().to_Hz(),
        CONTROL_HZ,
        WATCHDOG_US
    );

    let mut plant = HwPlant::new(i2c, pwm, dir, Tick { timer, next }, Dog(watchdog), RIG);
    let Ok(loaded) = loaded else {
        // LED at 10 Hz: no valid policy.
        hw::safe_stop(&mut plant, |_| {
            let _ = led.toggle();
        })
    };
    if plant.fault().is_some() {
        // LED at 1 Hz: plant fault.
        hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n));
    }
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let mut deploy = loaded.deploy;
    #[cfg(feature = "adapt")]
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

    let _ = led.set_high(); // LED on: controlling
    let fault = hw::control(&mut plant, actor, |p| p.fault());
    defmt::error!("control stopped: {}", fault);
    hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n))
}

/// Opens the store, provisions its factory record from the flashed policy
/// region on first boot and loads the newest committed policy (else the
/// factory one) into the learner; without a store, or if nothing in it
/// loads, decodes the flashed region as before.
fn boot_policy(
    memory: &mut Memory,
) -> (
    Option<Persist<StoreFlash>>,
    Result<Loaded<OBS, ACT>, boot::NoPolicy>,
) {
    let learner = &mut *memory.learner;
    let mut persist =
        StoreFlash::new(STORE_WATCHDOG_US).and_then(|f| LAYOUT.and_then(|l| persist::open(f, l)));
    let mut from_store = None;
    if let Some(p) = persist.as_mut() {
        p.provision(boot::region_policy, learner);
        from_store = p.load(learner, memory.scratch.file());
    }
    let loaded = match from_store {
        Some((_, loaded)) => Ok(loaded),
        None => boot::decode(boot::region_policy(), learner),
    };
    (persist, loaded)
}

fn blink_slow(led: &mut impl StatefulOutputPin, n: u32) {
    if n % (CONTROL_HZ / 2) == 0 {
        let _ = led.toggle();
    }
}

/// Any fault (and a panic, through panic-probe): stop PWM slice 0, then
/// wait for the watchdog to reset the chip.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    // SAFETY: one register write to PWM slice 0, which nothing else touches
    // once the program has faulted; a disabled slice drives its pin low.
    unsafe {
        let pwm = &*pac::PWM::ptr();
        pwm.ch(0).csr().modify(|_, w| w.en().clear_bit());
    }
    defmt::error!(
        "HardFault at pc={=u32:#010x}: motor off, waiting for the watchdog",
        frame.pc()
    );
    loop {
        cortex_m::asm::nop();
    }
}
