//! How much a [`Trainer`](super::Trainer) stores: its [`Layout`].
//!
//! An update needs, besides the networks and their gradients, the
//! optimiser state of what it trains and a copy of what it may have to go
//! back to (π_old and V_old: for backtracking, a revert, a refused update
//! and the checker's view of the behaviour policy). [`Full`] keeps all of
//! it for every parameter, so any [`TrainScope`] can run. [`Head`] only
//! ever trains the output layers and the log-std ([`TrainScope::Head`]),
//! so it keeps Adam state for those alone and, of π_old and V_old, only
//! what a head-only update can change: the output layer, the log-std, and
//! the first layer (which moving to new observation statistics re-expresses,
//! [`ObsNorm::carry_over`](crate::norm::ObsNorm::carry_over)). The second
//! hidden layer is never written in that scope, so the current one is
//! π_old's; a full π_old is rebuilt, exactly, in the idle gradient buffer
//! when a checker asks for it ([`Trainer::previous`](super::Trainer::previous)).
//!
//! A head-only update with either layout gives the same numbers bit for
//! bit (the tests below compare them): Adam's element-wise step with a
//! zero gradient and zero moments leaves a parameter exactly as it was, so
//! skipping the hidden layers changes nothing.
//!
//! [`Lean`] trains every parameter in the least RAM: the networks and
//! their Adam moments in 16 bits ([`Adam16`]), no V_old, one gradient
//! buffer, and its working storage ([`Work`]: π_old and that buffer) lent
//! by the caller with each call that needs it ([`Layout::Lent`]), so a
//! device can keep it where other phases keep other things.
//!
//! Size: [`Full`] is 10 networks' worth (policy, value, 2×2 Adam moments,
//! π_old, V_old, 2 gradients); [`Head`] 4 networks' worth (policy, value,
//! 2 gradients: the kernels fill whole gradients) plus the heads' Adam
//! state and the kept layers; [`Lean`] 4 networks' worth in the trainer
//! (policy, value, their packed moments) and 2 lent. `Trainer<3, 32, 1>`:
//! 48 832 B and 21 432 B; `Trainer<3, 64, 1>`: 179 392 B and 75 448 B;
//! `Trainer<3, 64, 1, Lean>` 71 784 B and its `Work` 35 904 B (the
//! `layout_sizes` test prints them).

use super::TrainScope;
use crate::PolicyKind;
use crate::mlp::Mlp;
use crate::norm::ObsNorm;
use crate::optim::{Adam, Adam16, AdamConfig};
use crate::params::Params;
use crate::policy::{Policy, Value};

/// The optimiser state of a parameter set `P`, or of part of it.
pub trait Optimiser<P> {
    /// One Adam step of the parameters this state covers, with `grad`.
    /// `false` when the state refused the step because it would have left
    /// a parameter non-finite (nothing changed then); a state that does
    /// not look ahead steps and returns `true`, and the trainer's
    /// finiteness check after the step catches it.
    fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig) -> bool;
    /// Zero moments and step count.
    fn reset(&mut self);
    /// Zero first moment (the fixup phase's momentum reset).
    fn clear_momentum(&mut self);
}

impl<P: Params> Optimiser<P> for Adam<P> {
    fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig) -> bool {
        Adam::step(self, params, grad, lr, cfg);
        true
    }

    fn reset(&mut self) {
        Adam::reset(self);
    }

    fn clear_momentum(&mut self) {
        self.m.fill_zero();
    }
}

impl<P: Params> Optimiser<P> for Adam16<P> {
    fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig) -> bool {
        Adam16::step(self, params, grad, lr, cfg)
    }

    fn reset(&mut self) {
        Adam16::reset(self);
    }

    fn clear_momentum(&mut self) {
        Adam16::clear_momentum(self);
    }
}

/// What a trainer keeps of a parameter set `P` to go back to it.
pub trait Keep<P> {
    /// Remembers `p`.
    fn save(&mut self, p: &P);
    /// Sets `p` to what was saved. A partial copy relies on the layout's
    /// scope: the numbers it does not keep were not changed since.
    fn restore(&self, p: &mut P);
    /// θ ← θ + t·(θ_saved − θ), parameter by parameter, over the numbers
    /// the scope may have changed (the others are equal to the saved ones).
    fn lerp_back(&self, p: &mut P, t: f32);
    /// The saved parameter set in full: `self` for a full copy, else
    /// `current` with the saved numbers written over it, built in `spare`.
    fn view<'a>(&'a self, current: &P, spare: &'a mut P) -> &'a P;
}

impl<const O: usize, const H: usize, const A: usize> Keep<Policy<O, H, A>> for Policy<O, H, A> {
    fn save(&mut self, p: &Policy<O, H, A>) {
        *self = *p;
    }

    fn restore(&self, p: &mut Policy<O, H, A>) {
        *p = *self;
    }

    fn lerp_back(&self, p: &mut Policy<O, H, A>, t: f32) {
        p.lerp_towards(self, t);
    }

    fn view<'a>(&'a self, _: &Policy<O, H, A>, _: &'a mut Policy<O, H, A>) -> &'a Policy<O, H, A> {
        self
    }
}

impl<const O: usize, const H: usize, const M: usize> Keep<Mlp<O, H, M>> for Mlp<O, H, M> {
    fn save(&mut self, p: &Mlp<O, H, M>) {
        *self = *p;
    }

    fn restore(&self, p: &mut Mlp<O, H, M>) {
        *p = *self;
    }

    fn lerp_back(&self, p: &mut Mlp<O, H, M>, t: f32) {
        p.lerp_towards(self, t);
    }

    fn view<'a>(&'a self, _: &Mlp<O, H, M>, _: &'a mut Mlp<O, H, M>) -> &'a Mlp<O, H, M> {
        self
    }
}

/// A network's output layer: what a head-only update trains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlpHead<const H: usize, const M: usize> {
    /// Output weights, `w3[hidden2][output]`.
    pub w3: [[f32; M]; H],
    /// Output biases.
    pub b3: [f32; M],
}

impl<const H: usize, const M: usize> MlpHead<H, M> {
    /// All zero.
    pub const ZERO: Self = Self {
        w3: [[0.0; M]; H],
        b3: [0.0; M],
    };

    fn of<const O: usize>(net: &Mlp<O, H, M>) -> Self {
        Self {
            w3: net.w3,
            b3: net.b3,
        }
    }

    fn write<const O: usize>(&self, net: &mut Mlp<O, H, M>) {
        net.w3 = self.w3;
        net.b3 = self.b3;
    }
}

impl<const H: usize, const M: usize> Params for MlpHead<H, M> {
    const SLICES: usize = 2;
    const LEN: usize = H * M + M;

    fn slice(&self, k: usize) -> &[f32] {
        match k {
            0 => self.w3.as_flattened(),
            1 => &self.b3,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, k: usize) -> &mut [f32] {
        match k {
            0 => self.w3.as_flattened_mut(),
            1 => &mut self.b3,
            _ => &mut [],
        }
    }
}

/// A policy's trained part in head-only scope: the output layer and the
/// log-std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyHead<const H: usize, const A: usize> {
    /// The output layer.
    pub net: MlpHead<H, A>,
    /// The log-std.
    pub log_std: [f32; A],
}

impl<const H: usize, const A: usize> PolicyHead<H, A> {
    /// All zero.
    pub const ZERO: Self = Self {
        net: MlpHead::ZERO,
        log_std: [0.0; A],
    };

    fn of<const O: usize>(p: &Policy<O, H, A>) -> Self {
        Self {
            net: MlpHead::of(&p.net),
            log_std: p.log_std,
        }
    }

    fn write<const O: usize>(&self, p: &mut Policy<O, H, A>) {
        self.net.write(&mut p.net);
        p.log_std = self.log_std;
    }
}

impl<const H: usize, const A: usize> Params for PolicyHead<H, A> {
    const SLICES: usize = 3;
    const LEN: usize = H * A + 2 * A;

    fn slice(&self, k: usize) -> &[f32] {
        match k {
            0 | 1 => self.net.slice(k),
            2 => &self.log_std,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, k: usize) -> &mut [f32] {
        match k {
            0 | 1 => self.net.slice_mut(k),
            2 => &mut self.log_std,
            _ => &mut [],
        }
    }
}

/// Adam over the output layer of a network: the step copies the layer
/// and its gradient out, steps them element by element exactly as a full
/// Adam would, and writes the layer back.
impl<const O: usize, const H: usize, const M: usize> Optimiser<Mlp<O, H, M>>
    for Adam<MlpHead<H, M>>
{
    fn step(
        &mut self,
        params: &mut Mlp<O, H, M>,
        grad: &Mlp<O, H, M>,
        lr: f32,
        cfg: &AdamConfig,
    ) -> bool {
        let mut head = MlpHead::of(params);
        Adam::step(self, &mut head, &MlpHead::of(grad), lr, cfg);
        head.write(params);
        true
    }

    fn reset(&mut self) {
        Adam::reset(self);
    }

    fn clear_momentum(&mut self) {
        self.m.fill_zero();
    }
}

/// Adam over a policy's output layer and log-std (as for [`MlpHead`]).
impl<const O: usize, const H: usize, const A: usize> Optimiser<Policy<O, H, A>>
    for Adam<PolicyHead<H, A>>
{
    fn step(
        &mut self,
        params: &mut Policy<O, H, A>,
        grad: &Policy<O, H, A>,
        lr: f32,
        cfg: &AdamConfig,
    ) -> bool {
        let mut head = PolicyHead::of(params);
        Adam::step(self, &mut head, &PolicyHead::of(grad), lr, cfg);
        head.write(params);
        true
    }

    fn reset(&mut self) {
        Adam::reset(self);
    }

    fn clear_momentum(&mut self) {
        self.m.fill_zero();
    }
}

/// What a head-only update can change in a network: the first layer
/// (re-expressed for new observation statistics) and the output layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlpKept<const O: usize, const H: usize, const M: usize> {
    /// First layer weights.
    pub w1: [[f32; H]; O],
    /// First layer biases.
    pub b1: [f32; H],
    /// The output layer.
    pub head: MlpHead<H, M>,
}

impl<const O: usize, const H: usize, const M: usize> MlpKept<O, H, M> {
    /// All zero.
    pub const ZERO: Self = Self {
        w1: [[0.0; H]; O],
        b1: [0.0; H],
        head: MlpHead::ZERO,
    };
}

/// `p ← p + t·(q − p)` element by element, as [`Params::lerp_towards`].
fn lerp(p: &mut [f32], q: &[f32], t: f32) {
    for (x, &xn) in p.iter_mut().zip(q) {
        *x = if t == 0.0 {
            *x
        } else if t == 1.0 {
            xn
        } else {
            *x + t * (xn - *x)
        };
    }
}

impl<const O: usize, const H: usize, const M: usize> Keep<Mlp<O, H, M>> for MlpKept<O, H, M> {
    fn save(&mut self, p: &Mlp<O, H, M>) {
        self.w1 = p.w1;
        self.b1 = p.b1;
        self.head = MlpHead::of(p);
    }

    fn restore(&self, p: &mut Mlp<O, H, M>) {
        p.w1 = self.w1;
        p.b1 = self.b1;
        self.head.write(p);
    }

    fn lerp_back(&self, p: &mut Mlp<O, H, M>, t: f32) {
        lerp(p.w1.as_flattened_mut(), self.w1.as_flattened(), t);
        lerp(&mut p.b1, &self.b1, t);
        lerp(p.w3.as_flattened_mut(), self.head.w3.as_flattened(), t);
        lerp(&mut p.b3, &self.head.b3, t);
    }

    fn view<'a>(&'a self, current: &Mlp<O, H, M>, spare: &'a mut Mlp<O, H, M>) -> &'a Mlp<O, H, M> {
        *spare = *current;
        self.restore(spare);
        spare
    }
}

/// [`MlpKept`] of a policy, with its log-std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyKept<const O: usize, const H: usize, const A: usize> {
    /// The network's changeable layers.
    pub net: MlpKept<O, H, A>,
    /// The log-std.
    pub log_std: [f32; A],
}

impl<const O: usize, const H: usize, const A: usize> PolicyKept<O, H, A> {
    /// All zero.
    pub const ZERO: Self = Self {
        net: MlpKept::ZERO,
        log_std: [0.0; A],
    };
}

impl<const O: usize, const H: usize, const A: usize> Keep<Policy<O, H, A>> for PolicyKept<O, H, A> {
    fn save(&mut self, p: &Policy<O, H, A>) {
        self.net.save(&p.net);
        self.log_std = p.log_std;
    }

    fn restore(&self, p: &mut Policy<O, H, A>) {
        self.net.restore(&mut p.net);
        p.log_std = self.log_std;
    }

    fn lerp_back(&self, p: &mut Policy<O, H, A>, t: f32) {
        self.net.lerp_back(&mut p.net, t);
        lerp(&mut p.log_std, &self.log_std, t);
    }

    fn view<'a>(
        &'a self,
        current: &Policy<O, H, A>,
        spare: &'a mut Policy<O, H, A>,
    ) -> &'a Policy<O, H, A> {
        *spare = *current;
        self.restore(spare);
        spare
    }
}

/// A trainer's storage plan: its optimiser state, what it keeps of π_old
/// and V_old, its gradient buffers, and whether the update's working
/// storage ([`Work`]) lives in the trainer or is lent by the caller. See
/// the [module docs](self).
pub trait Layout<const O: usize, const H: usize, const A: usize> {
    /// The only scope the layout can train, or `None` when the trainer's
    /// [`scope`](super::Trainer::scope) field chooses.
    const SCOPE: Option<TrainScope>;
    /// Adam state of the policy (or of its trained part).
    type PolicyOpt: Optimiser<Policy<O, H, A>> + Clone + core::fmt::Debug;
    /// Adam state of the value function (or of its trained part).
    type ValueOpt: Optimiser<Value<O, H>> + Clone + core::fmt::Debug;
    /// What is kept of π_old.
    type OldPolicy: Keep<Policy<O, H, A>> + Clone + core::fmt::Debug;
    /// What is kept of V_old.
    type OldValue: Keep<Value<O, H>> + Clone + core::fmt::Debug;
    /// The value gradient's own buffer, or `()` when it shares the
    /// policy's ([`Layout::as_value`]).
    type GradValue: Clone + core::fmt::Debug;
    /// The working storage the trainer holds: [`Work`], or `()` when the
    /// caller lends it ([`Layout::Lent`]).
    type Own: Clone + core::fmt::Debug;
    /// What the caller lends every call that needs working storage: `()`
    /// when the trainer holds it, else [`Work`].
    type Lent;
    /// Fresh policy optimiser state.
    const POLICY_OPT: Self::PolicyOpt;
    /// Fresh value optimiser state.
    const VALUE_OPT: Self::ValueOpt;
    /// Zero π_old.
    const OLD_POLICY: Self::OldPolicy;
    /// Zero V_old.
    const OLD_VALUE: Self::OldValue;
    /// Zero value gradient.
    const GRAD_VALUE: Self::GradValue;
    /// Zero working storage held by the trainer.
    const OWN: Self::Own;
    /// `false` when V_old is not kept: a revert or a refused update then
    /// leaves the value function with what the update's steps taught it
    /// (finite: see [`Optimiser::step`]), carried back to the restored
    /// normalisation.
    const KEEPS_VALUE: bool;
    /// The working storage: the trainer's own or the lent one.
    fn work<'a>(own: &'a mut Self::Own, lent: &'a mut Self::Lent) -> &'a mut Work<O, H, A, Self>;
    /// [`Layout::work`], shared.
    fn work_ref<'a>(own: &'a Self::Own, lent: &'a Self::Lent) -> &'a Work<O, H, A, Self>;
    /// The gradient buffers, from the working storage's two fields.
    fn grads<'a>(gp: &'a mut Policy<O, H, A>, gv: &'a mut Self::GradValue) -> Grads<'a, O, H, A>;
}

/// A layout's gradient buffers ([`Layout::grads`]).
pub enum Grads<'a, const O: usize, const H: usize, const A: usize> {
    /// One each: the primary phase fills both in one pass.
    Two(&'a mut Policy<O, H, A>, &'a mut Value<O, H>),
    /// One, and the function that views it as the value gradient: the
    /// primary phase computes the two in turn.
    One(
        &'a mut Policy<O, H, A>,
        fn(&mut Policy<O, H, A>) -> &mut Value<O, H>,
    ),
}

/// An update's working storage: π_old with its normalisation, V_old (as
/// much of them as the layout keeps) and the gradients. The policy
/// gradient buffer also holds the candidate while backtracking, when no
/// gradient is live, π_old rebuilt for a checker when the layout keeps
/// part of it, and, between updates, whatever the caller puts there
/// ([`Trainer::spare_policy`](super::Trainer::spare_policy)).
#[derive(Clone, Debug)]
pub struct Work<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A> + ?Sized> {
    pub(super) old_policy: L::OldPolicy,
    pub(super) old_norm: ObsNorm<O>,
    pub(super) old_value: L::OldValue,
    pub(super) grad_policy: Policy<O, H, A>,
    pub(super) grad_value: L::GradValue,
}

impl<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>> Work<O, H, A, L> {
    /// Every number zero (a `static` of it is `.bss`).
    pub const ZERO: Self = Self {
        old_policy: L::OLD_POLICY,
        old_norm: ObsNorm::ZEROED,
        old_value: L::OLD_VALUE,
        grad_policy: Policy::zero(PolicyKind::Gaussian),
        grad_value: L::GRAD_VALUE,
    };
}

/// Everything for every parameter: any [`TrainScope`] (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Full;

/// Only the output layers and the log-std are trained
/// ([`TrainScope::Head`], whatever the trainer's `scope` says): Adam state
/// for those alone, and of π_old and V_old only what that scope changes.
///
/// What is not kept is read from the current networks, so between an
/// update and [`Trainer::revert`](super::Trainer::revert) or
/// [`Trainer::previous`](super::Trainer::previous) nothing but the trainer
/// may write the networks' second hidden layer (loading another policy
/// starts afresh: the next update saves it). One difference in the signs
/// of zeros: backtracking moves a hidden weight of exactly −0.0 to +0.0
/// (θ + t·(θ − θ) is +0.0), so a π_old that had one is rebuilt with +0.0
/// (the same function; a fingerprint of it differs, and the adaptation
/// round then reverts the update).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head;

/// Every parameter trained (any [`TrainScope`]) in the least RAM: the
/// networks, their Adam moments in 16 bits ([`Adam16`]: one network's
/// worth for both moments), and nothing else. The working storage
/// ([`Work`]: π_old with its normalisation and one policy-sized gradient
/// buffer) is lent by the caller for each call that needs it, so it can
/// share memory with what the caller needs at other times (a policy file
/// being decoded, say). No V_old ([`Layout::KEEPS_VALUE`]). One gradient
/// buffer: each primary step computes the value gradient (for the joint
/// norm), then the policy's, steps the policy, and computes the value
/// gradient again to step the value function; the numbers are those of
/// the joint pass, bit for bit. For single-action policies (the value
/// gradient lives in the policy gradient's network).
///
/// Its updates differ from [`Full`]'s only in the moments' rounding, and
/// after a refused update or a revert, in the value function (kept, see
/// [`Layout::KEEPS_VALUE`]); the trust region is certified the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lean;

/// What [`Lean`] keeps of V_old: nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCopy;

impl<const O: usize, const H: usize> Keep<Value<O, H>> for NoCopy {
    fn save(&mut self, _: &Value<O, H>) {}

    fn restore(&self, _: &mut Value<O, H>) {}

    fn lerp_back(&self, _: &mut Value<O, H>, _: f32) {}

    fn view<'a>(&'a self, current: &Value<O, H>, spare: &'a mut Value<O, H>) -> &'a Value<O, H> {
        *spare = *current;
        spare
    }
}

/// The parts of [`Layout`] every layout that holds its own [`Work`] with
/// two gradient buffers writes the same way.
macro_rules! owned_work {
    () => {
        type GradValue = Value<O, H>;
        type Own = Work<O, H, A, Self>;
        type Lent = ();
        const GRAD_VALUE: Self::GradValue = Value::ZERO;
        const OWN: Self::Own = Work::ZERO;
        const KEEPS_VALUE: bool = true;

        fn work<'a>(own: &'a mut Self::Own, _: &'a mut ()) -> &'a mut Work<O, H, A, Self> {
            own
        }

        fn work_ref<'a>(own: &'a Self::Own, _: &'a ()) -> &'a Work<O, H, A, Self> {
            own
        }

        fn grads<'a>(gp: &'a mut Policy<O, H, A>, gv: &'a mut Value<O, H>) -> Grads<'a, O, H, A> {
            Grads::Two(gp, gv)
        }
    };
}

impl<const O: usize, const H: usize, const A: usize> Layout<O, H, A> for Full {
    const SCOPE: Option<TrainScope> = None;
    type PolicyOpt = Adam<Policy<O, H, A>>;
    type ValueOpt = Adam<Value<O, H>>;
    type OldPolicy = Policy<O, H, A>;
    type OldValue = Value<O, H>;
    const POLICY_OPT: Self::PolicyOpt = Adam {
        m: Policy::zero(PolicyKind::Gaussian),
        v: Policy::zero(PolicyKind::Gaussian),
        t: 0,
    };
    const VALUE_OPT: Self::ValueOpt = Adam {
        m: Value::ZERO,
        v: Value::ZERO,
        t: 0,
    };
    const OLD_POLICY: Self::OldPolicy = Policy::zero(PolicyKind::Gaussian);
    const OLD_VALUE: Self::OldValue = Value::ZERO;
    owned_work!();
}

impl<const O: usize, const H: usize, const A: usize> Layout<O, H, A> for Head {
    const SCOPE: Option<TrainScope> = Some(TrainScope::Head);
    type PolicyOpt = Adam<PolicyHead<H, A>>;
    type ValueOpt = Adam<MlpHead<H, 1>>;
    type OldPolicy = PolicyKept<O, H, A>;
    type OldValue = MlpKept<O, H, 1>;
    const POLICY_OPT: Self::PolicyOpt = Adam {
        m: PolicyHead::ZERO,
        v: PolicyHead::ZERO,
        t: 0,
    };
    const VALUE_OPT: Self::ValueOpt = Adam {
        m: MlpHead::ZERO,
        v: MlpHead::ZERO,
        t: 0,
    };
    const OLD_POLICY: Self::OldPolicy = PolicyKept::ZERO;
    const OLD_VALUE: Self::OldValue = MlpKept::ZERO;
    owned_work!();
}

impl<const O: usize, const H: usize> Layout<O, H, 1> for Lean {
    const SCOPE: Option<TrainScope> = None;
    type PolicyOpt = Adam16<Policy<O, H, 1>>;
    type ValueOpt = Adam16<Value<O, H>>;
    type OldPolicy = Policy<O, H, 1>;
    type OldValue = NoCopy;
    type GradValue = ();
    type Own = ();
    type Lent = Work<O, H, 1, Self>;
    const POLICY_OPT: Self::PolicyOpt = Adam16 {
        packed: Policy::zero(PolicyKind::Gaussian),
        t: 0,
    };
    const VALUE_OPT: Self::ValueOpt = Adam16 {
        packed: Value::ZERO,
        t: 0,
    };
    const OLD_POLICY: Self::OldPolicy = Policy::zero(PolicyKind::Gaussian);
    const OLD_VALUE: Self::OldValue = NoCopy;
    const GRAD_VALUE: Self::GradValue = ();
    const OWN: Self::Own = ();
    const KEEPS_VALUE: bool = false;

    fn work<'a>(_: &'a mut (), lent: &'a mut Self::Lent) -> &'a mut Work<O, H, 1, Self> {
        lent
    }

    fn work_ref<'a>(_: &'a (), lent: &'a Self::Lent) -> &'a Work<O, H, 1, Self> {
        lent
    }

    fn grads<'a>(gp: &'a mut Policy<O, H, 1>, _: &'a mut ()) -> Grads<'a, O, H, 1> {
        Grads::One(gp, |gp| &mut gp.net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixpo::{Config, Serial, Trainer, Transition, UpdateReport};
    use crate::norm::ObsNorm;
    use crate::rng::{Pcg32, normal};

    fn batch(rng: &mut Pcg32, scale: f32) -> [Transition<3, 1>; 64] {
        let mut batch = [Transition::<3, 1>::ZERO; 64];
        for tr in batch.iter_mut() {
            tr.obs = core::array::from_fn(|_| 1.0 + scale * normal(rng));
            tr.action = [normal(rng)];
            tr.advantage = 3.0 * normal(rng);
            tr.value = normal(rng);
            tr.ret = tr.value + tr.advantage;
        }
        batch
    }

    fn bits<P: Params>(p: &P) -> std::vec::Vec<u32> {
        (0..P::SLICES)
            .flat_map(|k| p.slice(k).iter().map(|x| x.to_bits()))
            .collect()
    }

    /// Asserts that the two trainers hold the same numbers, bit for bit.
    fn same(full: &mut Trainer<3, 8, 1>, head: &mut Trainer<3, 8, 1, Head>, what: &str) {
        assert_eq!(bits(&full.policy), bits(&head.policy), "{what}: policy");
        assert_eq!(bits(&full.value), bits(&head.value), "{what}: value");
        assert_eq!(full.norm, head.norm, "{what}: norm");
        assert_eq!(full.beta.to_bits(), head.beta.to_bits(), "{what}: beta");
        let (pf, nf) = full.previous();
        let (pf, nf) = (*pf, *nf);
        let (ph, nh) = head.previous();
        assert_eq!(bits(&pf), bits(ph), "{what}: previous policy");
        assert_eq!(&nf, nh, "{what}: previous norm");
        // The trained parts' Adam state is the full state's, restricted.
        assert_eq!(
            bits(&PolicyHead::of(&full.policy_opt.m)),
            bits(&head.policy_opt.m),
            "{what}: policy m"
        );
        assert_eq!(
            bits(&PolicyHead::of(&full.policy_opt.v)),
            bits(&head.policy_opt.v),
            "{what}: policy v"
        );
        assert_eq!(
            bits(&MlpHead::of(&full.value_opt.v)),
            bits(&head.value_opt.v),
            "{what}: value v"
        );
    }

    fn reports_equal(a: &UpdateReport, b: &UpdateReport) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    /// The head-only layout gives the full layout's head-only updates bit
    /// for bit: plain updates, updates that move to new observation
    /// statistics, a trust region tight enough to need the fixup phase and
    /// backtracking, the caller's revert and halving, in less RAM.
    #[test]
    fn head_layout_matches_full_layout_in_head_scope() {
        let mut rng = Pcg32::seed_from_u64(11);
        let mut full = Trainer::<3, 8, 1>::zero(PolicyKind::Gaussian, 1.0);
        full.init(&mut rng, -0.5, 1.0);
        full.scope = TrainScope::Head;
        let mut head = Trainer::<3, 8, 1, Head>::zero(PolicyKind::Gaussian, 1.0);
        head.policy = full.policy;
        head.value = full.value;
        // The layout decides, whatever the field says.
        head.scope = TrainScope::All;
        assert_eq!(head.scope_in_force(), TrainScope::Head);
        let mut norm = ObsNorm::<3>::NEW;
        let (mut fixups, mut backtracks) = (0, 0);
        for round in 0..12 {
            let mut b = batch(&mut rng, 1.0 + round as f32);
            let mut b2 = b;
            let cfg = Config {
                epochs: 3,
                minibatch: 16,
                fixup_minibatch: 32,
                lr: if round % 3 == 2 { 0.3 } else { 3e-3 },
                eps_kl: if round % 3 == 2 { 1e-4 } else { 0.05 },
                max_fixup_steps: if round % 4 == 3 { 1 } else { 100 },
                ..Config::REFERENCE
            };
            // Every other round moves to new statistics (the first layer is
            // re-expressed: the head layout keeps it).
            if round % 2 == 1 {
                for t in &b {
                    norm.stats.update(&t.obs);
                }
            }
            let seed = 100 + round;
            let rf = full.update_with_norm(
                &mut b,
                &cfg,
                &norm,
                &mut Pcg32::seed_from_u64(seed),
                &mut Serial,
            );
            let rh = head.update_with_norm(
                &mut b2,
                &cfg,
                &norm,
                &mut Pcg32::seed_from_u64(seed),
                &mut Serial,
            );
            let (rf, rh) = (rf.expect("full"), rh.expect("head"));
            reports_equal(&rf, &rh);
            fixups += rf.fixup_grad_steps;
            backtracks += rf.backtracks;
            same(&mut full, &mut head, "after the update");
            match round % 4 {
                1 => {
                    full.halve_towards_previous();
                    head.halve_towards_previous();
                    same(&mut full, &mut head, "after halving");
                }
                2 => {
                    full.revert();
                    head.revert();
                    same(&mut full, &mut head, "after a revert");
                    assert_eq!(bits(&head.policy), bits(head.previous().0));
                    norm = head.norm;
                }
                _ => {}
            }
        }
        assert!(fixups > 0 && backtracks > 0, "{fixups} {backtracks}");
        assert!(
            core::mem::size_of::<Trainer<3, 32, 1, Head>>() * 2
                < core::mem::size_of::<Trainer<3, 32, 1>>(),
        );
    }

    /// A refused update leaves a head-layout trainer exactly as before.
    #[test]
    fn head_layout_restores_on_error() {
        let mut rng = Pcg32::seed_from_u64(3);
        let mut t = Trainer::<3, 8, 1, Head>::zero(PolicyKind::Gaussian, 1.0);
        t.policy.init(&mut rng, -0.5);
        t.value.init(&mut rng, 1.0, 1.0);
        let mut b = batch(&mut rng, 1.0);
        t.update(&mut b, &Config::REFERENCE, &mut rng)
            .expect("update");
        let (p0, v0, n0) = (t.policy, t.value, t.norm);
        let cfg = Config {
            lr: 1e30,
            ..Config::REFERENCE
        };
        b[3].advantage = 1e30;
        let r = t.update(&mut b, &cfg, &mut rng);
        assert!(r.is_err(), "{r:?}");
        assert_eq!(bits(&t.policy), bits(&p0));
        assert_eq!(bits(&t.value), bits(&v0));
        assert_eq!(t.norm, n0);
    }

    /// [`Lean`]'s storage plan with f32 moments: its one-buffer passes and
    /// lent storage without the moments' rounding, to compare with
    /// [`Full`] bit for bit.
    #[derive(Clone, Copy, Debug)]
    struct LeanF32;

    impl<const O: usize, const H: usize> Layout<O, H, 1> for LeanF32 {
        const SCOPE: Option<TrainScope> = None;
        type PolicyOpt = Adam<Policy<O, H, 1>>;
        type ValueOpt = Adam<Value<O, H>>;
        type OldPolicy = Policy<O, H, 1>;
        type OldValue = NoCopy;
        type GradValue = ();
        type Own = ();
        type Lent = Work<O, H, 1, Self>;
        const POLICY_OPT: Self::PolicyOpt = <Full as Layout<O, H, 1>>::POLICY_OPT;
        const VALUE_OPT: Self::ValueOpt = <Full as Layout<O, H, 1>>::VALUE_OPT;
        const OLD_POLICY: Self::OldPolicy = Policy::zero(PolicyKind::Gaussian);
        const OLD_VALUE: Self::OldValue = NoCopy;
        const GRAD_VALUE: Self::GradValue = ();
        const OWN: Self::Own = ();
        const KEEPS_VALUE: bool = false;

        fn work<'a>(_: &'a mut (), lent: &'a mut Self::Lent) -> &'a mut Work<O, H, 1, Self> {
            lent
        }

        fn work_ref<'a>(_: &'a (), lent: &'a Self::Lent) -> &'a Work<O, H, 1, Self> {
            lent
        }

        fn grads<'a>(gp: &'a mut Policy<O, H, 1>, _: &'a mut ()) -> Grads<'a, O, H, 1> {
            Grads::One(gp, |gp| &mut gp.net)
        }
    }

    /// One gradient buffer and lent working storage give the full
    /// layout's updates bit for bit (with f32 moments): the value gradient
    /// computed on its own twice, the policy's once, clipped by the same
    /// joint norm; in both scopes, with new observation statistics, fixup
    /// phases, backtracking and halving.
    #[test]
    fn one_gradient_buffer_matches_the_joint_pass() {
        let mut rng = Pcg32::seed_from_u64(21);
        let mut full = Trainer::<3, 8, 1>::zero(PolicyKind::Gaussian, 1.0);
        full.init(&mut rng, -0.5, 1.0);
        let mut lean = Trainer::<3, 8, 1, LeanF32>::zero(PolicyKind::Gaussian, 1.0);
        lean.policy = full.policy;
        lean.value = full.value;
        let mut work = std::boxed::Box::new(Work::<3, 8, 1, LeanF32>::ZERO);
        let mut norm = ObsNorm::<3>::NEW;
        let (mut fixups, mut backtracks) = (0, 0);
        for round in 0..12u64 {
            let mut b = batch(&mut rng, 1.0 + round as f32);
            let mut b2 = b;
            let cfg = Config {
                epochs: 3,
                minibatch: 16,
                fixup_minibatch: 32,
                lr: if round % 3 == 2 { 0.3 } else { 3e-3 },
                eps_kl: if round % 3 == 2 { 1e-4 } else { 0.05 },
                max_fixup_steps: if round % 4 == 3 { 1 } else { 100 },
                max_grad_norm: if round % 2 == 0 { 0.5 } else { 1e9 },
                ..Config::REFERENCE
            };
            let scope = if round % 5 == 4 {
                TrainScope::Head
            } else {
                TrainScope::All
            };
            full.scope = scope;
            lean.scope = scope;
            if round % 2 == 1 {
                for t in &b {
                    norm.stats.update(&t.obs);
                }
            }
            let seed = 300 + round;
            let rf = full
                .update_with_norm(
                    &mut b,
                    &cfg,
                    &norm,
                    &mut Pcg32::seed_from_u64(seed),
                    &mut Serial,
                )
                .expect("full");
            let rl = lean
                .update_lent(
                    &mut work,
                    &mut b2,
                    &cfg,
                    &norm,
                    &mut Pcg32::seed_from_u64(seed),
                    &mut Serial,
                )
                .expect("lean");
            reports_equal(&rf, &rl);
            fixups += rf.fixup_grad_steps;
            backtracks += rf.backtracks;
            if round % 4 == 1 {
                full.halve_towards_previous();
                lean.halve_towards_previous_lent(&mut work);
            }
            assert_eq!(
                bits(&full.policy),
                bits(&lean.policy),
                "round {round}: policy"
            );
            assert_eq!(bits(&full.value), bits(&lean.value), "round {round}: value");
            assert_eq!(full.norm, lean.norm);
            assert_eq!(full.beta.to_bits(), lean.beta.to_bits());
            assert_eq!(bits(&full.policy_opt.v), bits(&lean.policy_opt.v));
            assert_eq!(bits(&full.value_opt.m), bits(&lean.value_opt.m));
            let (pf, nf) = full.previous();
            let (pf, nf) = (*pf, *nf);
            let (pl, nl) = lean.previous_and_current_lent(&mut work).0;
            assert_eq!(bits(&pf), bits(pl), "round {round}: previous");
            assert_eq!(&nf, nl);
        }
        assert!(fixups > 0 && backtracks > 0, "{fixups} {backtracks}");
    }

    /// [`Lean`] (16-bit moments): a revert gives back π_old and its
    /// normalisation and keeps the value function, carried back to that
    /// normalisation (the same function of the raw observation, to
    /// rounding); a refused update leaves the policy and normalisation as
    /// they were and the value function finite.
    #[test]
    fn lean_revert_and_refusal() {
        let mut rng = Pcg32::seed_from_u64(8);
        let mut t = Trainer::<3, 8, 1, Lean>::zero(PolicyKind::Gaussian, 1.0);
        t.init(&mut rng, -0.5, 1.0);
        let mut work = std::boxed::Box::new(Work::<3, 8, 1, Lean>::ZERO);
        let mut b = batch(&mut rng, 1.0);
        let mut norm = ObsNorm::<3>::NEW;
        for tr in &b {
            norm.stats.update(&tr.obs);
        }
        let cfg = Config::REFERENCE;
        t.update_lent(&mut work, &mut b, &cfg, &norm, &mut rng, &mut Serial)
            .expect("first");
        // A second update that moves the statistics, then a revert.
        let (p0, n0) = (t.policy, t.norm);
        let mut b = batch(&mut rng, 3.0);
        let mut next = norm;
        for tr in &b {
            next.stats.update(&tr.obs);
        }
        t.update_lent(&mut work, &mut b, &cfg, &next, &mut rng, &mut Serial)
            .expect("second");
        assert_ne!(t.norm, n0);
        let value_at = |t: &Trainer<3, 8, 1, Lean>, obs: &[f32; 3]| {
            let mut cache = crate::mlp::MlpCache::ZERO;
            t.value.forward(&t.norm.apply(obs), &mut cache)[0]
        };
        // Observations inside both normalisations' clip (a carry-over
        // re-expresses the affine map; clipping is not affine).
        let inside: std::vec::Vec<[f32; 3]> = (0..32)
            .map(|_| {
                core::array::from_fn(|j| {
                    n0.stats.mean[j] + 0.5 * libm::sqrtf(n0.stats.var[j]) * normal(&mut rng)
                })
            })
            .filter(|o| {
                [n0, t.norm]
                    .iter()
                    .all(|n| n.apply(o).iter().all(|x| x.abs() < n.clip))
            })
            .collect();
        assert!(inside.len() > 16);
        let trained: std::vec::Vec<f32> = inside.iter().map(|o| value_at(&t, o)).collect();
        t.revert_lent(&mut work);
        assert_eq!(bits(&t.policy), bits(&p0));
        assert_eq!(t.norm, n0);
        for (o, v) in inside.iter().zip(&trained) {
            let w = value_at(&t, o);
            assert!((w - v).abs() <= 1e-4 * (1.0 + v.abs()), "{w} vs {v}");
        }
        // Refused: the policy and normalisation as they were.
        let p1 = t.policy;
        let cfg = Config {
            lr: 1e30,
            ..Config::REFERENCE
        };
        b[3].advantage = 1e30;
        let r = t.update_lent(&mut work, &mut b, &cfg, &n0, &mut rng, &mut Serial);
        assert!(r.is_err(), "{r:?}");
        assert_eq!(bits(&t.policy), bits(&p1));
        assert_eq!(t.norm, n0);
        assert!(t.value.all_finite());
    }

    /// The sizes the firmware's README quotes.
    #[test]
    fn layout_sizes() {
        use core::mem::size_of;
        let net = size_of::<Value<3, 32>>();
        assert_eq!(net, 1217 * 4);
        let full = size_of::<Trainer<3, 32, 1>>();
        let head = size_of::<Trainer<3, 32, 1, Head>>();
        std::eprintln!("Trainer<3,32,1>: Full {full} B, Head {head} B; Value {net} B");
        std::eprintln!(
            "Trainer<3,64,1>: Full {} B, Head {} B",
            size_of::<Trainer<3, 64, 1>>(),
            size_of::<Trainer<3, 64, 1, Head>>()
        );
        assert!(full >= 10 * net);
        assert!(head < 4 * net + 2 * 1024);
        let lean = size_of::<Trainer<3, 64, 1, Lean>>();
        let work = size_of::<Work<3, 64, 1, Lean>>();
        let net64 = size_of::<Value<3, 64>>();
        std::eprintln!("Trainer<3,64,1,Lean>: {lean} B, its lent Work {work} B");
        // The networks and one network's worth of packed moments each.
        assert!(lean <= 4 * (net64 + 8) + 128, "{lean}");
        assert!(work <= 2 * (net64 + 8) + 64, "{work}");
    }
}
