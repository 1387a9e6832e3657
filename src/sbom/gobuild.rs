//! The build info Go embeds in its binaries (what `go version -m` prints),
//! read from the bytes of an ELF file: never executed.
//!
//! ```text
//! ELF section .go.buildinfo (16-byte aligned header, 32 bytes):
//!   0  "\xff Go buildinf:"          14-byte magic
//!   14 pointer size (4 or 8)
//!   15 flags: bit 0 big-endian, bit 1 inline strings (Go 1.18+)
//!   inline (Go 1.18+):  16 padding, then at 32: uvarint len + version,
//!                       uvarint len + modinfo
//!   pointers (older):   16 ptr -> Go string {data ptr, len} of the version,
//!                       16+ptr -> Go string of the modinfo (virtual addresses)
//! modinfo = 16 sentinel bytes | text | 16 sentinel bytes, text lines:
//!   path<TAB>cmd/x
//!   mod<TAB>example.com/m<TAB>v1.2.3<TAB>h1:...
//!   dep<TAB>example.com/d<TAB>v0.1.0<TAB>h1:...
//!   =><TAB>example.com/r<TAB>v0.2.0<TAB>h1:...   (replaces the line above)
//!   build<TAB>KEY=VALUE
//! ```

/// What a binary's build info states.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// The Go version, e.g. `go1.21.5`.
    pub go_version: String,
    /// The main package's path (`path` line).
    pub path: String,
    /// The main module, when built in module mode.
    pub main: Option<Module>,
    /// Dependency modules (replacements applied), in the order stated.
    pub deps: Vec<Module>,
}

/// One module: path and version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Module {
    /// Module path.
    pub path: String,
    /// Version (`(devel)` for a main module built from a work tree).
    pub version: String,
}

/// Random access to a file's bytes.
pub trait ReadAt {
    /// Reads up to `buf.len()` bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
}

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Bounds what a crafted file can make us read.
const MAX_STRING: u64 = 16 << 20;
const MAX_SECTIONS: u64 = 4096;

/// Reads the build info of an ELF file of `size` bytes; `None` when it is
/// not an ELF file with a valid `.go.buildinfo` section.
pub fn read(file: &dyn ReadAt, size: u64) -> Option<BuildInfo> {
    let elf = Elf::open(file, size)?;
    let (_, off, len) = elf.section(b".go.buildinfo")?;
    let head = elf.bytes(off, len.min(64))?;
    if head.len() < 32 || !head.starts_with(MAGIC) {
        return None;
    }
    let (ptr_size, flags) = (head[14] as usize, head[15]);
    let (version, modinfo) = if flags & 2 != 0 {
        let data = elf.bytes(off + 32, len.saturating_sub(32).min(2 * MAX_STRING))?;
        let (version, rest) = uvarint_string(&data)?;
        let (modinfo, _) = uvarint_string(rest)?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        if ptr_size != 4 && ptr_size != 8 || head.len() < 16 + 2 * ptr_size {
            return None;
        }
        let big = flags & 1 != 0;
        let vp = uint(&head[16..16 + ptr_size], big);
        let mp = uint(&head[16 + ptr_size..16 + 2 * ptr_size], big);
        (
            elf.go_string(vp, ptr_size, big)?,
            elf.go_string(mp, ptr_size, big)?,
        )
    };
    let modinfo = strip_sentinels(&modinfo);
    let mut info = parse_modinfo(&String::from_utf8_lossy(modinfo));
    info.go_version = String::from_utf8_lossy(&version).into_owned();
    (!info.go_version.is_empty()).then_some(info)
}

/// The modinfo text between its 16-byte sentinels (empty if they are not
/// there), as `debug/buildinfo` takes it.
fn strip_sentinels(m: &[u8]) -> &[u8] {
    if m.len() >= 33 && m[m.len() - 17] == b'\n' {
        &m[16..m.len() - 16]
    } else {
        &[]
    }
}

/// Parses the modinfo text (see the module docs).
pub fn parse_modinfo(text: &str) -> BuildInfo {
    let mut info = BuildInfo::default();
    let mut last_dep = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let module = || {
            Some(Module {
                path: f.get(1)?.to_string(),
                version: f.get(2).map_or("", |v| v).to_string(),
            })
        };
        match f[0] {
            "path" => info.path = f.get(1).map_or("", |v| v).to_string(),
            "mod" => {
                info.main = module();
                last_dep = false;
            }
            "dep" => {
                info.deps.extend(module());
                last_dep = true;
            }
            "=>" if last_dep => {
                if let (Some(r), Some(d)) = (module(), info.deps.last_mut()) {
                    *d = r;
                }
            }
            _ => {}
        }
    }
    info
}

fn uvarint_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut n, mut shift, mut i) = (0u64, 0u32, 0usize);
    loop {
        let c = *b.get(i)?;
        i += 1;
        n |= u64::from(c & 0x7f).checked_shl(shift)?;
        if c < 0x80 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    if n > MAX_STRING {
        return None;
    }
    let end = i.checked_add(n as usize)?;
    Some((b.get(i..end)?, &b[end..]))
}

fn uint(b: &[u8], big: bool) -> u64 {
    let mut v = 0u64;
    let mut f = |c: &u8| v = v << 8 | u64::from(*c);
    if big {
        b.iter().for_each(&mut f);
    } else {
        b.iter().rev().for_each(&mut f);
    }
    v
}

/// The parts of an ELF file we need: section headers and their names.
struct Elf<'a> {
    file: &'a dyn ReadAt,
    size: u64,
    big: bool,
    wide: bool,
    /// (name offset, addr, offset, size, type) per section.
    sections: Vec<(u32, u64, u64, u64, u32)>,
    names: Vec<u8>,
}

impl<'a> Elf<'a> {
    fn open(file: &'a dyn ReadAt, size: u64) -> Option<Elf<'a>> {
        let mut elf = Elf {
            file,
            size,
            big: false,
            wide: false,
            sections: Vec::new(),
            names: Vec::new(),
        };
        let h = elf.bytes(0, 64)?;
        if h.len() < 52 || &h[..4] != b"\x7fELF" {
            return None;
        }
        elf.wide = h[4] == 2;
        elf.big = h[5] == 2;
        let (shoff, shentsize, shnum, shstrndx) = if elf.wide {
            (
                elf.u(&h[40..48]),
                elf.u(&h[58..60]),
                elf.u(&h[60..62]),
                elf.u(&h[62..64]),
            )
        } else {
            (
                elf.u(&h[32..36]),
                elf.u(&h[46..48]),
                elf.u(&h[48..50]),
                elf.u(&h[50..52]),
            )
        };
        let need = if elf.wide { 64 } else { 40 };
        if shnum == 0 || shnum > MAX_SECTIONS || shentsize < need {
            return None;
        }
        let table = elf.bytes(shoff, shnum * shentsize)?;
        if table.len() as u64 != shnum * shentsize {
            return None;
        }
        for s in table.chunks_exact(shentsize as usize) {
            let name = elf.u(&s[0..4]) as u32;
            let kind = elf.u(&s[4..8]) as u32;
            let (addr, off, len) = if elf.wide {
                (elf.u(&s[16..24]), elf.u(&s[24..32]), elf.u(&s[32..40]))
            } else {
                (elf.u(&s[12..16]), elf.u(&s[16..20]), elf.u(&s[20..24]))
            };
            elf.sections.push((name, addr, off, len, kind));
        }
        let &(_, _, off, len, _) = elf.sections.get(shstrndx as usize)?;
        elf.names = elf.bytes(off, len.min(1 << 20))?;
        Some(elf)
    }

    fn u(&self, b: &[u8]) -> u64 {
        uint(b, self.big)
    }

    /// (addr, offset, size) of the section `name` with file data.
    fn section(&self, name: &[u8]) -> Option<(u64, u64, u64)> {
        const SHT_NOBITS: u32 = 8;
        self.sections.iter().find_map(|&(n, addr, off, len, kind)| {
            let rest = self.names.get(n as usize..)?;
            let end = rest.iter().position(|&c| c == 0)?;
            (&rest[..end] == name && kind != SHT_NOBITS).then_some((addr, off, len))
        })
    }

    /// Up to `len` bytes at `off` (fewer at the end of the file).
    fn bytes(&self, off: u64, len: u64) -> Option<Vec<u8>> {
        if off >= self.size {
            return None;
        }
        let len = len.min(self.size - off) as usize;
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.file.read_at(off + done as u64, &mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) => return None,
            }
        }
        buf.truncate(done);
        Some(buf)
    }

    /// Bytes at a virtual address, through the section holding it.
    fn at_addr(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        let &(_, start, off, _, _) = self.sections.iter().find(|&&(_, a, _, s, kind)| {
            kind != 8 && a != 0 && addr >= a && addr.checked_add(len).is_some_and(|e| e <= a + s)
        })?;
        let b = self.bytes(off + (addr - start), len)?;
        (b.len() as u64 == len).then_some(b)
    }

    /// A Go string header (`{data, len}`) at `addr`, and its bytes.
    fn go_string(&self, addr: u64, ptr: usize, big: bool) -> Option<Vec<u8>> {
        let h = self.at_addr(addr, 2 * ptr as u64)?;
        let data = uint(&h[..ptr], big);
        let len = uint(&h[ptr..], big);
        if len > MAX_STRING {
            return None;
        }
        if len == 0 {
            return Some(Vec::new());
        }
        self.at_addr(data, len)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(rest) = usize::try_from(offset).ok().and_then(|o| self.get(o..)) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
