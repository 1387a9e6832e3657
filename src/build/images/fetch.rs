//! The blobs of the image cache, fetched in parallel and handed to the layer
//! writer in tar order. Each blob is one job: a download from its registry
//! (resumed with a Range request after a dropped connection) or a copy out
//! of a layer already in the store. Workers take jobs in tar order, hash
//! what they read against the blob's digest and pass it on in 1 MiB chunks
//! through a bounded channel per job, so memory stays at
//! `workers x DEPTH x CHUNK` however big the images are and nothing is
//! staged on disk: the tar writer streams each blob into ingest as its
//! chunks arrive.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::build::layer::Streams;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::registry::Repo;

/// Bytes per chunk handed from a worker to the writer.
const CHUNK: usize = 1 << 20;
/// Chunks buffered per job.
const DEPTH: usize = 16;
/// Attempts of one download before it fails.
const ATTEMPTS: u32 = 4;

/// Where a blob's bytes come from.
pub enum Origin {
    /// Downloaded from this repository.
    Remote(Arc<Repo>),
    /// Copied from a store layer's blob file at this offset.
    Local(Arc<File>, u64),
}

/// One blob to bring.
pub struct Job {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Where from.
    pub origin: Origin,
    /// The container image that needs it (for errors).
    pub image: String,
    /// Where that image was asked for (for errors).
    pub asked_by: String,
}

impl Job {
    /// `e`, said of the image that needs this blob.
    fn failed(&self, e: Error) -> Error {
        Error::ContainerImage {
            image: self.image.clone(),
            asked_by: self.asked_by.clone(),
            source: Box::new(e),
        }
    }
}

type Chunk = io::Result<Vec<u8>>;

/// The jobs of one layer and the workers' shared state.
pub struct Pool {
    jobs: Vec<Job>,
    senders: Mutex<Vec<Option<SyncSender<Chunk>>>>,
    receivers: Mutex<Vec<Option<Receiver<Chunk>>>>,
    next: AtomicUsize,
    stop: AtomicBool,
    error: Mutex<Option<Error>>,
    /// Bytes downloaded from registries.
    pub downloaded: AtomicU64,
    /// Bytes copied from the store.
    pub copied: AtomicU64,
}

impl Pool {
    /// A pool for `jobs`, in the order the tar will ask for them.
    pub fn new(jobs: Vec<Job>) -> Pool {
        let (mut tx, mut rx) = (Vec::new(), Vec::new());
        for _ in &jobs {
            let (s, r) = sync_channel(DEPTH);
            tx.push(Some(s));
            rx.push(Some(r));
        }
        Pool {
            jobs,
            senders: Mutex::new(tx),
            receivers: Mutex::new(rx),
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            downloaded: AtomicU64::new(0),
            copied: AtomicU64::new(0),
        }
    }

    /// The jobs.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// Runs jobs until none is left or the pool is closed.
    pub fn work(&self) {
        loop {
            let k = self.next.fetch_add(1, Ordering::SeqCst);
            if k >= self.jobs.len() || self.stop.load(Ordering::SeqCst) {
                return;
            }
            let Some(tx) = lock(&self.senders)[k].take() else {
                continue;
            };
            let job = &self.jobs[k];
            if let Err(e) = self.run(job, &tx) {
                let msg = e.to_string();
                self.fail(job.failed(Error::Blob {
                    digest: job.digest,
                    why: msg.clone(),
                }));
                let _ = tx.send(Err(io::Error::other(msg)));
                return;
            }
        }
    }

    /// Stops the workers: queued jobs are dropped, blocked senders fail.
    pub fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.receivers)
            .iter_mut()
            .for_each(|r| drop(r.take()));
    }

    /// The first failure of a worker, which explains the writer's error.
    pub fn take_error(&self) -> Option<Error> {
        lock(&self.error).take()
    }

    fn fail(&self, e: Error) {
        lock(&self.error).get_or_insert(e);
        self.stop.store(true, Ordering::SeqCst);
    }

    fn run(&self, job: &Job, tx: &SyncSender<Chunk>) -> Result<()> {
        let mut hasher = Sha256::new();
        let mut sent = 0u64;
        let mut send = |chunk: Vec<u8>, hasher: &mut Sha256| -> bool {
            hasher.update(&chunk);
            tx.send(Ok(chunk)).is_ok()
        };
        match &job.origin {
            Origin::Local(file, offset) => {
                while sent < job.size {
                    let n = CHUNK.min((job.size - sent) as usize);
                    let mut buf = vec![0; n];
                    file.read_exact_at(&mut buf, offset + sent)
                        .map_err(|e| crate::error::invalid(format!("reading the store: {e}")))?;
                    sent += n as u64;
                    self.copied.fetch_add(n as u64, Ordering::Relaxed);
                    if !send(buf, &mut hasher) {
                        return Ok(());
                    }
                }
            }
            Origin::Remote(repo) => {
                let mut failures = 0;
                loop {
                    match self.download(repo, job, &mut sent, &mut hasher, &mut send) {
                        Ok(true) => break,
                        Ok(false) => return Ok(()),
                        Err(Transient(why)) => {
                            failures += 1;
                            if failures >= ATTEMPTS {
                                return Err(crate::error::invalid(format!(
                                    "download failed after {ATTEMPTS} attempts: {why}"
                                )));
                            }
                            std::thread::sleep(Duration::from_millis(250 << failures));
                        }
                    }
                }
            }
        }
        let got = Digest(hasher.finalize().into());
        if got != job.digest {
            return Err(crate::error::invalid(format!(
                "corrupt: its content hashes to {got}"
            )));
        }
        Ok(())
    }

    /// One attempt, resuming at `sent`: `Ok(true)` complete, `Ok(false)` the
    /// writer is gone, `Err` worth retrying. Final errors come as
    /// `Err(Transient)` only when the registry may recover.
    fn download(
        &self,
        repo: &Repo,
        job: &Job,
        sent: &mut u64,
        hasher: &mut Sha256,
        send: &mut impl FnMut(Vec<u8>, &mut Sha256) -> bool,
    ) -> std::result::Result<bool, Transient> {
        let (mut body, resumed) = match repo.blob_from(&job.digest, *sent) {
            Ok(r) => r,
            Err(a) if a.retryable => return Err(Transient(a.error.to_string())),
            Err(a) => {
                // Not worth retrying: end the job with this error.
                self.fail(job.failed(a.error));
                return Ok(false);
            }
        };
        if !resumed && *sent > 0 {
            // The server ignored the range: skip what was already passed on.
            let skipped = io::copy(&mut (&mut body).take(*sent), &mut io::sink())
                .map_err(|e| Transient(e.to_string()))?;
            if skipped < *sent {
                return Err(Transient("the blob got shorter".into()));
            }
        }
        loop {
            let mut buf = vec![0; CHUNK];
            let mut filled = 0;
            let mut broken = None;
            while filled < CHUNK {
                match body.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Pass on what arrived; the retry resumes after it.
                        broken = Some(Transient(format!("reading the download: {e}")));
                        break;
                    }
                }
            }
            if filled == 0 {
                if let Some(t) = broken {
                    return Err(t);
                }
                if *sent < job.size {
                    return Err(Transient(format!(
                        "truncated at {} of {} bytes",
                        *sent, job.size
                    )));
                }
                return Ok(true);
            }
            if *sent + filled as u64 > job.size {
                self.fail(job.failed(Error::Blob {
                    digest: job.digest,
                    why: format!("larger than the {} bytes its descriptor says", job.size),
                }));
                return Ok(false);
            }
            buf.truncate(filled);
            *sent += filled as u64;
            self.downloaded.fetch_add(filled as u64, Ordering::Relaxed);
            if !send(buf, hasher) {
                return Ok(false);
            }
            if let Some(t) = broken {
                return Err(t);
            }
        }
    }
}

/// A failure the next attempt may not see.
struct Transient(String);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Streams for Pool {
    fn open(&self, key: usize) -> io::Result<Box<dyn Read + Send + '_>> {
        let rx = lock(&self.receivers)
            .get_mut(key)
            .and_then(Option::take)
            .ok_or_else(|| io::Error::other("the image cache was stopped"))?;
        Ok(Box::new(ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        }))
    }
}

/// Reads one job's chunks as a byte stream.
struct ChunkReader {
    rx: Receiver<Chunk>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The worker finished (or stopped): the writer checks sizes.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
