//! All the firmware's large memory, in statics (no heap), and the stack
//! high-water mark.
//!
//! - [`Learner`]: fixpo-core's learner (the trainer's policy, value, Adam
//!   moments and the update's scratch, and the statistics rewards are
//!   scaled by), built in place by a `const fn`.
//! - [`Scratch`]: one region used in three phases. At boot it holds the
//!   bytes of a policy file read from the host, which fixpo-core's
//!   `adapt::load` decodes straight into the learner; then the deployed
//!   [`Controller`] staged from the learner (inference, evaluation); during
//!   adaptation the rollout ([`Rollout`]) and, with the `Lean` layout, the
//!   update's working storage (π_old and a gradient buffer), which so
//!   shares its RAM with the host file. The deployed policy lives in the
//!   learner's trainer, so the policy is never stored twice.

use core::mem::ManuallyDrop;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use fixpo_core::PolicyKind;
use fixpo_core::adapt;
use fixpo_core::file::max_encoded_len;
use fixpo_core::gae::GaeStep;
use fixpo_core::learn::Learner;

use crate::control::{ACT, Controller, HID, LENT_ZERO, Lent, OBS, TrainLayout};

/// Transitions per rollout: one plant episode (9 s at 20 Hz) per update.
pub const ROLLOUT: usize = 180;
/// Bytes of the longest policy file of this build's shape (with a critic).
pub const FILE_LEN: usize = max_encoded_len(OBS, HID, ACT);

/// The adaptation phase of [`Scratch`]: one rollout, as fixpo-core's
/// update consumes it, and the working storage the trainer's layout
/// borrows for the round ([`Lent`]: nothing, or π_old and a gradient
/// buffer with the `Lean` layout).
pub type Rollout = adapt::Rollout<OBS, ACT, ROLLOUT, Lent>;

/// A host file, the staged controller or the rollout, one at a time.
#[repr(C)]
pub union Scratch {
    file: [u8; FILE_LEN],
    controller: Controller,
    // No drop glue either way (`ManuallyDrop` because the lent working
    // storage is not `Copy`).
    rollout: ManuallyDrop<Rollout>,
}

const GAE_ZERO: GaeStep = GaeStep {
    reward: 0.0,
    value: 0.0,
    next_value: 0.0,
    terminated: false,
    done: false,
};

impl Scratch {
    /// The bytes of a host file (as the previous phase left them).
    pub fn file(&mut self) -> &mut [u8; FILE_LEN] {
        // SAFETY: bytes are valid for any bit pattern; `self` is borrowed
        // mutably, so the view is unique.
        unsafe { &mut self.file }
    }

    /// The controller view. Its contents are whatever the previous phase
    /// left (made valid, not cleared): stage a policy into it first.
    pub fn controller(&mut self) -> &mut Controller {
        let p = &raw mut self.controller;
        // SAFETY: every field of `Controller` is f32/f64 data, valid for any
        // bit pattern, except the policy kind, which is written here before
        // the reference is made; `self` is borrowed mutably, so the view is
        // unique.
        unsafe {
            addr_of_mut!((*p).policy.kind).write(PolicyKind::Gaussian);
            &mut *p
        }
    }

    /// The rollout view (transitions as the previous phase left them,
    /// the lent working storage zeroed: take the view once per round, as
    /// the trainer needs what it saved there until the round ends).
    pub fn rollout(&mut self) -> &mut Rollout {
        // `ManuallyDrop` is `repr(transparent)`.
        let p = (&raw mut self.rollout).cast::<Rollout>();
        // SAFETY: `Transition` is all f32 (valid for any bits); the GAE steps
        // hold `bool`s and the lent storage a policy kind, so they are all
        // written before the reference is made; `self` is borrowed mutably,
        // so the view is unique.
        unsafe {
            for i in 0..ROLLOUT {
                addr_of_mut!((*p).gae[i]).write(GAE_ZERO);
            }
            addr_of_mut!((*p).lent).write(LENT_ZERO);
            &mut *p
        }
    }
}

/// The statics, handed out once.
pub struct Memory {
    /// fixpo-core's learner (trainer and statistics).
    pub learner: &'static mut Learner<OBS, HID, ACT, TrainLayout>,
    /// Host file / controller / rollout.
    pub scratch: &'static mut Scratch,
}

/// Hands out the statics.
///
/// # Panics
/// On a second call.
pub fn take() -> Memory {
    // Every byte zero (.bss, not 53 KB of .data in flash); the adaptation
    // loop sets β_0 and the normalisation.
    static mut LEARNER: Learner<OBS, HID, ACT, TrainLayout> = Learner::zeroed(PolicyKind::Gaussian);
    static mut SCRATCH: Scratch = Scratch {
        rollout: ManuallyDrop::new(Rollout::with_lent(LENT_ZERO)),
    };
    static TAKEN: AtomicBool = AtomicBool::new(false);
    assert!(
        !TAKEN.swap(true, Ordering::Relaxed),
        "mem::take called twice"
    );
    // SAFETY: the flag above lets this run once, so these are the only
    // references ever made to the two statics.
    unsafe {
        Memory {
            learner: &mut *addr_of_mut!(LEARNER),
            scratch: &mut *addr_of_mut!(SCRATCH),
        }
    }
}

/// Word painted over the unused stack at boot.
const PAINT: u32 = 0x5AFE_C0DE;
/// How much of the stack is painted and watched (the RAM budget is 64 KiB).
/// Boards call [`paint_stack`] with interrupts disabled (before any are
/// enabled), so nothing runs below the painting frame.
pub const STACK_WINDOW: usize = 32 * 1024;

unsafe extern "C" {
    /// Top of the stack (cortex-m-rt's link.x).
    static _stack_start: u32;
}

fn stack_top() -> usize {
    // Only the symbol's address is used.
    core::ptr::addr_of!(_stack_start) as usize
}

/// Paints the stack window below the current stack pointer. Call first
/// thing in `main`.
pub fn paint_stack() {
    let top = stack_top();
    // The address of a local is at or above the stack pointer: an upper
    // bound of SP without reading the register (no cortex-m dependency).
    let here = 0u32;
    let sp = core::hint::black_box(core::ptr::addr_of!(here)) as usize;
    let mut p = top - STACK_WINDOW;
    // Stay clear of this function's own frame (everything below SP is free
    // on Cortex-M: no red zone, interrupts are not enabled).
    while p + 64 < sp {
        // SAFETY: [top - STACK_WINDOW, sp - 64) is RAM below the live stack,
        // which nothing uses; every board's RAM holds .data + .bss +
        // STACK_WINDOW (memory.x; scripts/firmware.sh footprint).
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

/// Deepest stack use since [`paint_stack`], in bytes.
pub fn stack_high_water() -> usize {
    let top = stack_top();
    let mut p = top - STACK_WINDOW;
    // SAFETY: reads of the painted window (see `paint_stack`).
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}
