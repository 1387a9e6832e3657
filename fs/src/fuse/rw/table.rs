//! The inode table of a `--rw` mount: which names the kernel knows each inode
//! by. Inodes are allocated per path as they are looked up; every inode keeps
//! its names as (parent inode, name), so a rename moves one record and the
//! children follow. An entry of the upper directory with several hard links
//! is one inode with several names, so the kernel's cached attributes (link
//! count, ctime, mode) agree whichever name is used.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use fuser::INodeNo;

use crate::merge::Merged;

/// One file of the merged tree that the kernel knows.
pub(super) struct Inode {
    /// (parent inode, name) of every name; the first one gives the path.
    pub names: Vec<(u64, Vec<u8>)>,
    /// What the lower layers have at this path (None: nothing, or hidden).
    pub lower: Option<Merged>,
    /// The upper file's inode number when it is known to have hard links.
    pub upper_ino: Option<u64>,
}

/// Inodes by number and by name.
pub(super) struct Table {
    inodes: HashMap<u64, Inode>,
    by_name: HashMap<(u64, Vec<u8>), u64>,
    /// Upper inode number -> our inode, for files with hard links.
    by_upper_ino: HashMap<u64, u64>,
    next: u64,
}

impl Table {
    /// A table that knows only the root, whose lower side is `root_lower`.
    pub fn new(root_lower: Option<Merged>) -> Table {
        let mut inodes = HashMap::new();
        inodes.insert(
            INodeNo::ROOT.0,
            Inode {
                names: vec![(INodeNo::ROOT.0, Vec::new())],
                lower: root_lower,
                upper_ino: None,
            },
        );
        Table {
            inodes,
            by_name: HashMap::new(),
            by_upper_ino: HashMap::new(),
            next: INodeNo::ROOT.0 + 1,
        }
    }

    pub fn get(&self, ino: u64) -> Option<&Inode> {
        self.inodes.get(&ino)
    }

    /// The inode bound to `name` in `parent`, if the kernel knows it.
    pub fn find(&self, parent: u64, name: &[u8]) -> Option<u64> {
        self.by_name.get(&(parent, name.to_vec())).copied()
    }

    /// The parent of an inode (by its first name).
    pub fn parent(&self, ino: u64) -> Option<u64> {
        self.inodes.get(&ino).map(|i| i.names[0].0)
    }

    /// The path of an inode relative to the root (empty for the root).
    pub fn rel_path(&self, mut ino: u64) -> Option<PathBuf> {
        let mut parts = Vec::new();
        while ino != INodeNo::ROOT.0 {
            let (parent, name) = self.inodes.get(&ino)?.names.first()?;
            parts.push(name.as_slice());
            ino = *parent;
        }
        let mut p = PathBuf::new();
        for part in parts.iter().rev() {
            p.push(OsStr::from_bytes(part));
        }
        Some(p)
    }

    /// The inode for `name` in `parent`, made if the kernel did not know it;
    /// its lower side is set to `lower`.
    pub fn bind(&mut self, parent: u64, name: &[u8], lower: Option<Merged>) -> u64 {
        if let Some(ino) = self.find(parent, name) {
            if let Some(i) = self.inodes.get_mut(&ino) {
                i.lower = lower;
                return ino;
            }
        }
        let ino = self.next;
        self.next += 1;
        self.inodes.insert(
            ino,
            Inode {
                names: vec![(parent, name.to_vec())],
                lower,
                upper_ino: None,
            },
        );
        self.by_name.insert((parent, name.to_vec()), ino);
        ino
    }

    /// The inode already serving the upper file `upper_ino` (a hard link).
    pub fn find_upper(&self, upper_ino: u64) -> Option<u64> {
        self.by_upper_ino.get(&upper_ino).copied()
    }

    /// Records that inode `ino` is the upper file `upper_ino`, which has
    /// (or may get) other names.
    pub fn set_upper_ino(&mut self, ino: u64, upper_ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            if let Some(old) = i.upper_ino.replace(upper_ino) {
                if self.by_upper_ino.get(&old) == Some(&ino) {
                    self.by_upper_ino.remove(&old);
                }
            }
            self.by_upper_ino.insert(upper_ino, ino);
        }
    }

    /// Adds the name `name` in `parent` to inode `ino` (a new hard link);
    /// whatever was bound there before is forgotten.
    pub fn add_name(&mut self, ino: u64, parent: u64, name: &[u8]) {
        if self.find(parent, name) == Some(ino) {
            return;
        }
        self.unbind(parent, name);
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.names.push((parent, name.to_vec()));
            self.by_name.insert((parent, name.to_vec()), ino);
        }
    }

    /// Forgets the name `name` in `parent` (unlink, rmdir, replaced by a
    /// rename); the inode goes with its last name.
    pub fn unbind(&mut self, parent: u64, name: &[u8]) {
        let Some(ino) = self.by_name.remove(&(parent, name.to_vec())) else {
            return;
        };
        let Some(i) = self.inodes.get_mut(&ino) else {
            return;
        };
        i.names.retain(|(p, n)| !(*p == parent && n == name));
        if i.names.is_empty() {
            if let Some(i) = self.inodes.remove(&ino) {
                if let Some(u) = i.upper_ino {
                    if self.by_upper_ino.get(&u) == Some(&ino) {
                        self.by_upper_ino.remove(&u);
                    }
                }
            }
        }
    }

    /// Moves the name `name` in `parent` to `newname` in `newparent`. With
    /// `exchange` the inode at the new name moves the other way; without, it
    /// loses that name. The moved inode no longer has a lower side.
    pub fn rename(
        &mut self,
        (parent, name): (u64, &[u8]),
        (newparent, newname): (u64, &[u8]),
        exchange: bool,
    ) {
        let moved = self.by_name.remove(&(parent, name.to_vec()));
        let other = if exchange {
            self.by_name.remove(&(newparent, newname.to_vec()))
        } else {
            self.unbind(newparent, newname);
            None
        };
        if let Some(m) = moved {
            self.rename_name(m, (parent, name), (newparent, newname));
            if let Some(i) = self.inodes.get_mut(&m) {
                i.lower = None;
            }
        }
        if let Some(o) = other {
            self.rename_name(o, (newparent, newname), (parent, name));
        }
    }

    /// Changes one name of inode `ino` (already unbound from `from`).
    fn rename_name(&mut self, ino: u64, from: (u64, &[u8]), to: (u64, &[u8])) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            for n in i.names.iter_mut() {
                if n.0 == from.0 && n.1 == from.1 {
                    *n = (to.0, to.1.to_vec());
                }
            }
            self.by_name.insert((to.0, to.1.to_vec()), ino);
        }
    }
}
