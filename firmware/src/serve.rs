//! The device serving the host link (`fixpo device`): the deployed policy
//! controls the plant tick after tick, and between two ticks the link
//! answers requests ([`crate::link`]). A pushed policy, once committed,
//! replaces the running one at a tick boundary (motor stopped while it
//! loads); an adaptation runs `adapt::run` under the device's safety
//! preset and streams one report per update, and answers `Status` and
//! `Stop` between updates; a reset returns to the board, which reboots.
//!
//! The link is served from inside the plant's wait ([`Paced`]): a real
//! board's plant waits most of each 50 ms control period for its timer and
//! polls the link all through that wait (so a stop-and-wait push runs at
//! the serial line's speed, not one chunk per tick); the simulated plant
//! polls once after each step. The first request that needs the loop (an
//! [`Event`] other than `None`) ends the polling until the loop has acted
//! on it after the step; bytes arriving meanwhile wait in the board's
//! ring.

use fixpo_core::adapt::{Deploy, fingerprint};
use fixpo_core::env::{Env, Step};
use fixpo_core::file;
use fixpo_core::fixpo::Config;
use fixpo_core::rng::Pcg32;
use fixpo_proto::{AdaptSettings, Bound, End, Finished, Mode, Reply, Source, UpdateReport};

use crate::adapt::{self, Guards, SAFETY, SETTINGS, Safety, Update};
use crate::boot;
use crate::control::{ACT, ActionSource, Controller, OBS};
use crate::link::{Event, Link, Port, Running};
use crate::mem::Memory;
use crate::persist::{self, Flash, Persist};
use crate::plant::{SafeStop, SimPlant};

/// Seed of the plant's episode starts while serving.
const SERVE_SEED: u64 = 0x5E7E_5EED;

/// A plant that can serve the host link while it steps: `idle` is the
/// link's service, called between the plant's own work (see the module
/// docs).
pub trait Paced: Env<OBS, ACT> + SafeStop {
    /// [`Env::step`], calling `idle` at least once. The default steps,
    /// then calls `idle` once; a real plant calls it all through the wait
    /// for its control period.
    fn step_serving(&mut self, action: &[f32; ACT], idle: &mut dyn FnMut()) -> Step<OBS> {
        let step = self.step(action);
        idle();
        step
    }

    /// [`Env::reset`], calling `idle` at least once. The default resets,
    /// then calls `idle` once; a real plant, whose reset waits seconds for
    /// the pendulum to settle, calls it all through that wait.
    fn reset_serving<R: rand_core::RngCore + ?Sized>(
        &mut self,
        rng: &mut R,
        idle: &mut dyn FnMut(),
    ) -> [f32; OBS] {
        let obs = self.reset(rng);
        idle();
        obs
    }
}

/// The simulated plant steps instantly: the link is polled once per step.
impl Paced for SimPlant<'_> {}

/// One service of the link from inside the plant's wait: polls it unless
/// an event already waits for the loop (`pending`), which then keeps the
/// first one.
fn service<F: Flash, P: Port>(
    pending: &mut Event,
    link: &mut Link<P>,
    running: &mut Running,
    persist: Option<&mut Persist<F>>,
    uptime_ms: &dyn Fn() -> u32,
) {
    if *pending == Event::None {
        running.uptime_ms = uptime_ms();
        *pending = link.poll(running, persist);
    }
}

/// What the board supplies besides the plant and the link.
pub struct Hooks<'h> {
    /// Milliseconds since boot.
    pub uptime_ms: &'h dyn Fn() -> u32,
    /// Called with the controller each time a new policy starts running
    /// (a push or an adaptation): the QEMU board logs its inference
    /// report there.
    pub switched: &'h mut dyn FnMut(&mut Controller),
    /// Control ticks to run before returning (`None`: until a reset).
    pub ticks: Option<u64>,
}

/// Why [`serve`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Exit {
    /// The host asked for a reset (the factory policy, if asked, is
    /// already the newest record): reboot.
    Reset,
    /// The tick budget of [`Hooks::ticks`] ran out.
    Ticks,
}

/// The protocol's name for where a policy came from.
pub fn source_of(s: persist::Source) -> Source {
    match s {
        persist::Source::Active(seq) => Source::Record(seq),
        persist::Source::Factory => Source::Factory,
        persist::Source::Given => Source::Given,
    }
}

/// Serves the link while the deployed policy (`memory.learner` with
/// `deploy`, from `source`) controls `plant`. See the module docs.
pub fn serve<E, F, P>(
    memory: &mut Memory,
    deploy: &mut Deploy<OBS, ACT>,
    source: persist::Source,
    plant: &mut E,
    link: &mut Link<P>,
    mut persist: Option<&mut Persist<F>>,
    hooks: Hooks<'_>,
) -> Exit
where
    E: Paced,
    F: Flash,
    P: Port,
{
    let learner = &mut *memory.learner;
    let scratch = &mut *memory.scratch;
    let uptime_ms = hooks.uptime_ms;
    let mut rng = Pcg32::new(SERVE_SEED, 1);
    let mut running = Running {
        source: source_of(source),
        fingerprint: fingerprint(&learner.trainer.policy, &learner.trainer.norm),
        updates: 0,
        uptime_ms: uptime_ms(),
        mode: Mode::Control,
    };
    defmt::info!(
        "serve: link up, running {} fingerprint {=u64:016x}",
        running.source,
        running.fingerprint
    );
    // The first event the link returned, not yet acted on.
    let mut pending = Event::None;
    // Serves the link from inside the plant (a macro: the closure's
    // borrows end with each call).
    macro_rules! idle {
        () => {
            &mut || {
                service(
                    &mut pending,
                    link,
                    &mut running,
                    persist.as_deref_mut(),
                    uptime_ms,
                )
            }
        };
    }
    let mut obs = plant.reset_serving(&mut rng, idle!());
    let mut actor = boot::stage(scratch, learner, deploy);
    let mut tick = 0u64;
    loop {
        if hooks.ticks.is_some_and(|n| tick >= n) {
            return Exit::Ticks;
        }
        tick += 1;
        let mut action = [0.0f32; ACT];
        ActionSource::act(actor, &obs, &mut action);
        let step = plant.step_serving(&action, idle!());
        obs = if step.terminated || step.truncated {
            plant.reset_serving(&mut rng, idle!())
        } else {
            step.obs
        };
        let event = pending;
        pending = Event::None;
        match event {
            // `Stop` outside an adaptation is answered by the link alone.
            Event::None | Event::Stop => {}
            Event::Committed { seq } => {
                plant.stop_motor();
                let Some(p) = persist.as_deref_mut() else {
                    continue;
                };
                match p.load(learner, scratch.file()) {
                    Some((src, loaded)) => {
                        *deploy = loaded.deploy;
                        running.source = source_of(src);
                        if src != persist::Source::Active(seq) {
                            defmt::error!("serve: record {=u32} did not load; runs {}", seq, src);
                        }
                    }
                    None => defmt::error!("serve: nothing loadable after a push"),
                }
                running.fingerprint = fingerprint(&learner.trainer.policy, &learner.trainer.norm);
                defmt::info!(
                    "serve: switched to {} fingerprint {=u64:016x}",
                    running.source,
                    running.fingerprint
                );
                actor = boot::stage(scratch, learner, deploy);
                (hooks.switched)(actor);
                obs = plant.reset_serving(&mut rng, idle!());
            }
            Event::Adapt { id, settings } => {
                plant.stop_motor();
                let finished = adapt_on_request(
                    memory_parts(learner, scratch),
                    deploy,
                    plant,
                    link,
                    persist.as_deref_mut(),
                    &mut running,
                    id,
                    settings,
                    uptime_ms,
                );
                link.send(id, Reply::Finished(finished));
                running.mode = Mode::Control;
                running.fingerprint = fingerprint(&learner.trainer.policy, &learner.trainer.norm);
                actor = boot::stage(scratch, learner, deploy);
                (hooks.switched)(actor);
                obs = plant.reset_serving(&mut rng, idle!());
            }
            Event::Reset { factory } => {
                plant.stop_motor();
                if factory {
                    if let Some(p) = persist.as_deref_mut() {
                        let r = p.store.restore_factory(&mut p.flash, scratch.file(), |b| {
                            file::read_header(b).is_ok()
                        });
                        match r {
                            Ok(c) => {
                                defmt::info!("serve: factory policy restored as seq {=u32}", c.seq)
                            }
                            Err(e) => defmt::error!("serve: factory restore failed ({})", e),
                        }
                    }
                }
                defmt::info!("serve: reset requested");
                return Exit::Reset;
            }
        }
    }
}

/// The learner and the scratch region, re-lent for an adaptation.
struct Parts<'m> {
    learner: &'m mut fixpo_core::learn::Learner<
        OBS,
        { crate::control::HID },
        ACT,
        crate::control::TrainLayout,
    >,
    scratch: &'m mut crate::mem::Scratch,
}

fn memory_parts<'m>(
    learner: &'m mut fixpo_core::learn::Learner<
        OBS,
        { crate::control::HID },
        ACT,
        crate::control::TrainLayout,
    >,
    scratch: &'m mut crate::mem::Scratch,
) -> Parts<'m> {
    Parts { learner, scratch }
}

/// The settings of a requested adaptation: the device preset with the
/// host's ε_KL and ε_total.
pub fn settings_for(s: &AdaptSettings) -> (Config, Safety) {
    let cfg = Config {
        eps_kl: s.eps_kl.unwrap_or(SETTINGS.update.eps_kl),
        ..SETTINGS.update
    };
    let safety = Safety {
        eps_total: match s.eps_total {
            Bound::Default => SAFETY.eps_total,
            Bound::Off => None,
            Bound::At(x) => Some(x),
        },
        ..SAFETY
    };
    (cfg, safety)
}

/// One update as the protocol reports it.
pub fn report_of(u: &Update<'_>) -> UpdateReport {
    match u.round {
        Some(r) => UpdateReport {
            update: u.index,
            ret: r.episode_return,
            max_kl: r.update.max_kl,
            check_max_kl: r.check.max_kl as f32,
            eps_kl: u.eps_kl,
            beta: r.update.beta,
            fixup_steps: r.update.fixup_grad_steps,
            backtrack_t: r.update.backtrack_t,
            drift_kl: r.total.map(|t| t.drift.max_kl as f32),
            eps_total: r.total.map(|_| u.eps_total).unwrap_or(None),
            kept: r.kept,
            rolled_back: u.rolled_back,
            committed: u.committed,
        },
        None => UpdateReport {
            update: u.index,
            ret: f32::NAN,
            max_kl: f32::NAN,
            check_max_kl: f32::NAN,
            eps_kl: u.eps_kl,
            beta: f32::NAN,
            fixup_steps: 0,
            backtrack_t: f32::NAN,
            drift_kl: None,
            eps_total: u.eps_total,
            kept: false,
            rolled_back: false,
            committed: None,
        },
    }
}

/// Runs the requested adaptation, streaming reports and answering the
/// link between updates; returns the summary.
#[allow(clippy::too_many_arguments)]
fn adapt_on_request<E, F, P>(
    parts: Parts<'_>,
    deploy: &mut Deploy<OBS, ACT>,
    plant: &mut E,
    link: &mut Link<P>,
    persist: Option<&mut Persist<F>>,
    running: &mut Running,
    id: u16,
    settings: AdaptSettings,
    uptime_ms: &dyn Fn() -> u32,
) -> Finished
where
    E: Env<OBS, ACT> + SafeStop,
    F: Flash,
    P: Port,
{
    let (cfg, safety) = settings_for(&settings);
    // The cumulative bound, evaluations and writes need the factory
    // record; without one, adapt without the store.
    let persist = persist.and_then(|p| p.factory().is_some().then_some(p));
    let had_store = persist.is_some();
    let of = settings.updates;
    running.mode = Mode::Adapting { done: 0, of };
    defmt::info!(
        "serve: adapting, {=u32} updates, eps_kl {=f32}, {}, store {=bool}",
        of,
        cfg.eps_kl,
        safety,
        had_store
    );
    let mut persist = persist;
    let out = adapt::run(
        parts.learner,
        parts.scratch,
        plant,
        &cfg,
        of,
        deploy,
        Guards {
            safety,
            persist: persist.as_deref_mut(),
            trace: &mut |_, _, _, _| {},
            report: &mut |u| {
                link.send(id, Reply::Report(report_of(u)));
                running.updates += 1;
                running.mode = Mode::Adapting {
                    done: u.index + 1,
                    of,
                };
                running.uptime_ms = uptime_ms();
                !matches!(link.poll::<F>(running, None), Event::Stop)
            },
        },
    );
    if let Some(p) = persist {
        if out.commits > 0 || out.rollbacks > 0 {
            running.source = match p.store.active_body(&mut p.flash) {
                Ok(Some((info, _))) => Source::Record(info.seq),
                _ => Source::Factory,
            };
        }
    }
    let end = if out.stopped {
        End::Stopped
    } else {
        End::Completed
    };
    defmt::info!(
        "serve: adaptation {} after {=u32} updates ({=u32} kept, {=u32} rollbacks, {=u32} commits)",
        end,
        out.updates,
        out.kept,
        out.rollbacks,
        out.commits
    );
    Finished {
        end,
        updates: out.updates,
        kept: out.kept,
        rollbacks: out.rollbacks,
        commits: out.commits,
    }
}
