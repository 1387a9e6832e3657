//! Concurrency: seven processes at once on one store (two builders, a
//! tagger, a remover, a pruner, a mounter and a reader of `index.json`),
//! each doing a fixed number of rounds (never a quota per second). Every command must succeed (a build whose fresh layers
//! were collected under it would fail), no tag may be lost, `index.json`
//! must always parse, and at the end the store is exactly the tags made
//! minus the tags removed, each image reading what it was built with, and
//! `fsck` finds nothing wrong.

use std::collections::BTreeSet;
use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::crash::Rng;
use crate::mount::mount;
use crate::util::{example, Env};

/// Rounds of each worker: builds per builder, tags, prunes, mounts.
const ROUNDS: usize = 30;

/// What the workers share.
struct World {
    env: Env,
    stop: AtomicBool,
    ops: AtomicU64,
    /// Tags made and not removed: name -> (file, content) to read back.
    live: Mutex<Vec<(String, String, String)>>,
    /// Tags anyone may remove.
    removable: Mutex<Vec<String>>,
    /// Built tags nobody removes, to tag again.
    stable: Mutex<Vec<(String, String, String)>>,
    removed: Mutex<BTreeSet<String>>,
}

impl World {
    /// The producers (builders, tagger, pruner, mounter) have finished.
    fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.env.run(args);
        self.ops.fetch_add(1, Ordering::Relaxed);
        out
    }
}

fn builder(w: &World, who: u32) {
    for n in 1..=ROUNDS {
        let own = format!("builder {who} build {n}\n");
        let ctx = w.env.context(
            &format!("ctx-{who}-{n}"),
            &[
                (
                    "Kubefile",
                    &format!("FROM base:1\nCOPY shared.txt etc/\nCOPY own.txt etc/own-{who}.txt\n"),
                ),
                ("shared.txt", "the same layer for every builder\n"),
                ("own.txt", &own),
            ],
        );
        let tag = format!("b{who}-{n}:1");
        w.run(&["build", "-t", &tag, &ctx.to_string_lossy()]);
        let file = format!("etc/own-{who}.txt");
        assert_eq!(
            w.run(&["cat", &tag, &file]),
            own,
            "{tag} right after its build"
        );
        let entry = (tag.clone(), file, own);
        w.live.lock().expect("lock").push(entry.clone());
        // Every other build is left for the remover.
        if n % 2 == 0 {
            w.removable.lock().expect("lock").push(tag);
        } else {
            w.stable.lock().expect("lock").push(entry);
        }
    }
}

fn tagger(w: &World) {
    for n in 1..=2 * ROUNDS {
        let keep = format!("keep-{n}:1");
        w.run(&["tag", "base:1", &keep]);
        w.live
            .lock()
            .expect("lock")
            .push((keep, "Kubefile".into(), String::new()));
        let src = w.stable.lock().expect("lock").last().cloned();
        if let Some((src, file, content)) = src {
            let alias = format!("alias-{n}:1");
            w.run(&["tag", &src, &alias]);
            w.live
                .lock()
                .expect("lock")
                .push((alias.clone(), file, content));
            w.removable.lock().expect("lock").push(alias);
        }
    }
}

/// Removes what the others leave it, until they are done and nothing is left.
fn remover(w: &World, rng: &mut Rng) {
    loop {
        let finished = w.done();
        let victim = {
            let mut r = w.removable.lock().expect("lock");
            if r.is_empty() {
                None
            } else {
                let i = rng.below(r.len() as u64) as usize;
                Some(r.swap_remove(i))
            }
        };
        let Some(victim) = victim else {
            if finished {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        w.run(&["rmi", &victim]);
        w.live.lock().expect("lock").retain(|l| l.0 != victim);
        w.removed.lock().expect("lock").insert(victim);
    }
}

fn pruner(w: &World) {
    for n in 1..=2 * ROUNDS {
        w.run(&["prune"]);
        if n % 5 == 0 {
            let out = w.run(&["fsck"]);
            assert!(!out.contains("problem:"), "fsck during the run:\n{out}");
        }
    }
}

fn mounter(w: &World) {
    let want = fs::read(example("cluster-rootfs").join("Kubefile")).expect("example Kubefile");
    for n in 1..=ROUNDS {
        let m = mount(&w.env, "base:1", &format!("mnt-{n}"));
        assert_eq!(
            fs::read(m.dir.join("Kubefile")).expect("reading the mount"),
            want
        );
        w.ops.fetch_add(2, Ordering::Relaxed);
    }
}

fn index_reader(w: &World) -> u64 {
    let path = w.env.root().join("index.json");
    let mut reads = 0;
    while !w.done() {
        let bytes = fs::read(&path).expect("index.json is always there");
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| {
            panic!(
                "index.json is corrupt ({e}):\n{}",
                String::from_utf8_lossy(&bytes)
            )
        });
        reads += 1;
    }
    reads
}

#[test]
fn seven_processes_at_once_never_lose_a_tag_or_a_blob() {
    let env = Env::new();
    env.build("base:1", &example("cluster-rootfs"));
    let w = World {
        env,
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        live: Mutex::new(Vec::new()),
        removable: Mutex::new(Vec::new()),
        stable: Mutex::new(Vec::new()),
        removed: Mutex::new(BTreeSet::new()),
    };
    let mut rng = Rng::from_env("concurrency");
    let started = Instant::now();
    let reads = std::thread::scope(|s| {
        let w = &w;
        let producers = [
            s.spawn(move || builder(w, 1)),
            s.spawn(move || builder(w, 2)),
            s.spawn(move || tagger(w)),
            s.spawn(move || pruner(w)),
            s.spawn(move || mounter(w)),
        ];
        s.spawn(move || remover(w, &mut rng));
        let reader = s.spawn(move || index_reader(w));
        let mut failed = None;
        for p in producers {
            if let Err(panic) = p.join() {
                failed.get_or_insert(panic);
            }
        }
        w.stop.store(true, Ordering::Relaxed);
        if let Some(panic) = failed {
            std::panic::resume_unwind(panic);
        }
        reader.join().expect("the index reader")
    });
    let ops = w.ops.load(Ordering::Relaxed);
    eprintln!(
        "concurrency: {ops} sealer commands by 6 workers and {reads} index.json reads in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Builds (and their cats), tags, prunes, fscks and mounts: a fixed count.
    let fixed = (2 * 2 * ROUNDS + 2 * ROUNDS + 2 * ROUNDS + 2 * ROUNDS / 5 + 2 * ROUNDS) as u64;
    assert!(ops >= fixed, "only {ops} of at least {fixed} commands ran");
    // Exactly the tags made minus the ones removed.
    let images = w.env.run(&["images"]);
    let have: BTreeSet<String> = images
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let live = w.live.lock().expect("lock").clone();
    let mut want: BTreeSet<String> = live.iter().map(|l| l.0.clone()).collect();
    want.insert("base:1".into());
    assert_eq!(have, want, "tags after the run");
    for removed in w.removed.lock().expect("lock").iter() {
        assert!(!have.contains(removed), "{removed} came back");
    }
    for (tag, file, content) in &live {
        if !content.is_empty() {
            assert_eq!(&w.env.run(&["cat", tag, file]), content, "{tag}");
        }
    }
    let out = w.env.run(&["fsck"]);
    assert!(out.contains("no problems found"), "{out}");
    w.env.run(&["prune"]);
    let out = w.env.run(&["fsck"]);
    assert!(
        out.contains("no problems found") && !out.contains("no image references"),
        "{out}"
    );
}
