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
//! Size: [`Full`] is 10 networks' worth (policy, value, 2×2 Adam moments,
//! π_old, V_old, 2 gradients); [`Head`] 4 networks' worth (policy, value,
//! 2 gradients: the kernels fill whole gradients) plus the heads' Adam
//! state and the kept layers. `Trainer<3, 32, 1>`: 48 832 B and 21 424 B;
//! `Trainer<3, 64, 1>`: 179 392 B and 75 440 B (the `layout_sizes` test
//! prints them).

use super::TrainScope;
use crate::PolicyKind;
use crate::mlp::Mlp;
use crate::optim::{Adam, AdamConfig};
use crate::params::Params;
use crate::policy::{Policy, Value};

/// The optimiser state of a parameter set `P`, or of part of it.
pub trait Optimiser<P> {
    /// One Adam step of the parameters this state covers, with `grad`.
    fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig);
    /// Zero moments and step count.
    fn reset(&mut self);
    /// Zero first moment (the fixup phase's momentum reset).
    fn clear_momentum(&mut self);
}

impl<P: Params> Optimiser<P> for Adam<P> {
    fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig) {
        Adam::step(self, params, grad, lr, cfg);
    }

    fn reset(&mut self) {
        Adam::reset(self);
    }

    fn clear_momentum(&mut self) {
        self.m.fill_zero();
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
    fn step(&mut self, params: &mut Mlp<O, H, M>, grad: &Mlp<O, H, M>, lr: f32, cfg: &AdamConfig) {
        let mut head = MlpHead::of(params);
        Adam::step(self, &mut head, &MlpHead::of(grad), lr, cfg);
        head.write(params);
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
    ) {
        let mut head = PolicyHead::of(params);
        Adam::step(self, &mut head, &PolicyHead::of(grad), lr, cfg);
        head.write(params);
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

/// A trainer's storage plan: its optimiser state and what it keeps of
/// π_old and V_old. See the [module docs](self).
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
    /// Fresh policy optimiser state.
    const POLICY_OPT: Self::PolicyOpt;
    /// Fresh value optimiser state.
    const VALUE_OPT: Self::ValueOpt;
    /// Zero π_old.
    const OLD_POLICY: Self::OldPolicy;
    /// Zero V_old.
    const OLD_VALUE: Self::OldValue;
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
    }
}
