//! Size probe: one 3→32×32→1 Gaussian trainer in `.bss`, a 256-transition
//! batch, one inference entry point and one update entry point.
#![no_std]

use core::cell::UnsafeCell;
use fixpo_core::fixpo::{Config, Trainer, Transition};
use fixpo_core::rng::Pcg32;
use fixpo_core::PolicyKind;

struct Cell<T>(UnsafeCell<T>);
// SAFETY: the probe is single-threaded by contract; it is only linked to
// measure sizes.
unsafe impl<T> Sync for Cell<T> {}

// All zeros, as the firmware's: `.bss`, no flash.
static TRAINER: Cell<Trainer<3, 32, 1>> = Cell(UnsafeCell::new(Trainer::zeroed(PolicyKind::Gaussian)));
static BATCH: Cell<[Transition<3, 1>; 256]> = Cell(UnsafeCell::new([Transition::ZERO; 256]));

/// The deterministic action for `obs` (pointer to 3 floats).
#[unsafe(no_mangle)]
pub extern "C" fn fixpo_probe_act(obs: &[f32; 3]) -> f32 {
    // SAFETY: single-threaded probe (see `Cell`).
    let t = unsafe { &*TRAINER.0.get() };
    t.policy.mode(obs)[0]
}

/// One FixPO update on the static batch; returns the max KL or -1 on error.
#[unsafe(no_mangle)]
pub extern "C" fn fixpo_probe_update(seed: u64) -> f32 {
    // SAFETY: single-threaded probe (see `Cell`).
    let (t, b) = unsafe { (&mut *TRAINER.0.get(), &mut *BATCH.0.get()) };
    let mut rng = Pcg32::seed_from_u64(seed);
    let cfg = Config { minibatch: 64, fixup_minibatch: 256, ..Config::REFERENCE };
    match t.update(b, &cfg, &mut rng) {
        Ok(r) => r.max_kl,
        Err(_) => -1.0,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
