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
//! | link TX (`link`) | GP0 (1) | UART0, 115 200 8N1 |
//! | link RX (`link`) | GP1 (2) | UART0 |
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
//!
//! With `link`, the board serves the host link (`fixpo device`,
//! docs/protocol.md) on UART0 (`src/link_uart.rs`) instead of only
//! controlling: `fixpo_firmware::serve` runs the deployed policy on the
//! pendulum and, all through each control period's wait, answers status,
//! push, pull, adaptation and reset requests (a pushed policy is committed
//! to the store and runs from the next tick; a reset request reboots).
#![no_std]
#![no_main]

#[cfg(all(feature = "link", feature = "adapt"))]
compile_error!(
    "`link` runs adaptations when the host asks (`fixpo device adapt`): build it without `adapt`"
);

#[cfg(feature = "link")]
mod link_uart;
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

#[cfg(feature = "link")]
use crate::link_uart::LinkUart;
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
/// `adapt` or `link` (a push or an adaptation on request), long enough for
/// one FixPO update (between episodes, motor stopped) and for a store
/// write.
#[cfg(not(any(feature = "adapt", feature = "link")))]
const WATCHDOG_US: u32 = 250_000;
#[cfg(any(feature = "adapt", feature = "link"))]
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

impl Tick {
    /// The overrun, if the period already ended (the next deadline then
    /// starts from now).
    fn overrun(&mut self) -> Option<Overrun> {
        let now = self.timer.get_counter().ticks();
        if now <= self.next {
            return None;
        }
        let busy_us = PERIOD_US + (now - self.next);
        self.next = now + PERIOD_US;
        Some(Overrun {
            busy_ns: u32::try_from(busy_us * 1_000).unwrap_or(u32::MAX),
            period_ns: (PERIOD_US * 1_000) as u32,
        })
    }

    fn before_deadline(&self) -> bool {
        self.timer.get_counter().ticks() < self.next
    }
}

impl ControlTimer for Tick {
    fn wait_period(&mut self) -> Result<(), Overrun> {
        if let Some(o) = self.overrun() {
            return Err(o);
        }
        while self.before_deadline() {}
        self.next += PERIOD_US;
        Ok(())
    }

    /// Serves the link (`idle`) until the deadline: the link's latency is
    /// one request's handling, not a control period.
    fn wait_period_serving(&mut self, idle: &mut dyn FnMut()) -> Result<(), Overrun> {
        if let Some(o) = self.overrun() {
            idle();
            return Err(o);
        }
        loop {
            idle();
            if !self.before_deadline() {
                break;
            }
        }
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
    #[cfg(feature = "link")]
    let port = LinkUart::new(
        pac.UART0,
        (
            pins.gpio0
                .reconfigure::<hal::gpio::FunctionUart, hal::gpio::PullUp>(),
            pins.gpio1
                .reconfigure::<hal::gpio::FunctionUart, hal::gpio::PullUp>(),
        ),
        &mut pac.RESETS,
        clocks.peripheral_clock.freq(),
    );

    // The store and the policy, motor stopped (duty 0 above).
    #[cfg_attr(not(feature = "adapt"), allow(unused_mut))]
    let mut memory = mem::take();
    #[cfg_attr(not(any(feature = "adapt", feature = "link")), allow(unused_mut))]
    let (mut persist, loaded, source) = boot_policy(&mut memory);
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

    #[cfg(feature = "link")]
    let clock = timer; // a copy: the uptime `Status` reports
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
    #[cfg_attr(not(any(feature = "adapt", feature = "link")), allow(unused_mut))]
    let mut deploy = loaded.deploy;
    #[cfg(feature = "link")]
    match port {
        Some(port) => {
            let _ = led.set_high(); // LED on: controlling (and serving the link)
            let uptime_ms = || (clock.get_counter().ticks() / 1_000) as u32;
            serve_link(
                &mut memory,
                &mut deploy,
                source,
                &mut plant,
                port,
                persist.as_mut(),
                &uptime_ms,
            );
            defmt::error!("serve stopped");
            hw::safe_stop(&mut plant, |n| blink_slow(&mut led, n))
        }
        None => defmt::error!("link: UART0 refused 115 200 baud; controlling without it"),
    }
    #[cfg(not(feature = "link"))]
    let _ = source;
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
    uptime_ms: &dyn Fn() -> u32,
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
            uptime_ms,
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

/// The chip's id from the boot ROM (`get_sys_info`, CHIP_INFO: the 64-bit
/// device and wafer id, as picotool's "chipid"), little-endian and
/// zero-padded to the protocol's 16 bytes; zeros if the ROM does not give
/// it.
#[cfg(feature = "link")]
fn device_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    match hal::rom_data::sys_info_api::chip_info() {
        Ok(Some(info)) => {
            id[..4].copy_from_slice(&info.device_id.to_le_bytes());
            id[4..8].copy_from_slice(&info.wafer_id.to_le_bytes());
        }
        _ => defmt::warn!("link: no chip id from the boot ROM; device id zeros"),
    }
    id
}

/// Opens the store, provisions its factory record from the flashed policy
/// region on first boot and loads the newest committed policy (else the
/// factory one) into the learner; without a store, or if nothing in it
/// loads, decodes the flashed region as before. Also says where the policy
/// came from.
fn boot_policy(
    memory: &mut Memory,
) -> (
    Option<Persist<StoreFlash>>,
    Result<Loaded<OBS, ACT>, boot::NoPolicy>,
    persist::Source,
) {
    let learner = &mut *memory.learner;
    let mut persist =
        StoreFlash::new(STORE_WATCHDOG_US).and_then(|f| LAYOUT.and_then(|l| persist::open(f, l)));
    let mut from_store = None;
    if let Some(p) = persist.as_mut() {
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
