//! Go's fmt.doPrintf: the format string's flags, widths, precisions and
//! argument indexes, and the error forms for missing, extra and badly
//! indexed operands.

use super::{Flags, Printer};
use crate::gotmpl::Value;

/// Go's parsenum: a decimal number at `s[start..end]`; numbers past 1e6 are
/// not numbers.
fn parsenum(s: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let (mut num, mut isnum, mut i) = (0usize, false, start);
    while i < end && s[i].is_ascii_digit() {
        if num > 1_000_000 {
            return (0, false, end);
        }
        num = num * 10 + usize::from(s[i] - b'0');
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

/// Go's parseArgNumber on `[n]`: the 0-based index, the bytes consumed and
/// whether it parsed.
fn parse_arg_number(s: &[u8]) -> (usize, usize, bool) {
    if s.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..s.len() {
        if s[i] == b']' {
            let (width, ok, newi) = parsenum(s, 1, i);
            if !ok || newi != i || width == 0 {
                // `[0]` parses but names no argument: Go's index -1.
                return (usize::MAX, i + 1, ok && newi == i);
            }
            return (width - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

/// Go's intFromArg: a `*` width or precision; only ints qualify.
fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(i)) if i.abs() <= 1_000_000 => (*i, true, arg_num + 1),
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

impl Printer {
    /// Go's argNumber: an optional `[n]` at `i`.
    fn arg_number(&mut self, arg_num: usize, s: &[u8], i: usize, n: usize) -> (usize, usize, bool) {
        if i >= s.len() || s[i] != b'[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let (index, wid, ok) = parse_arg_number(&s[i..]);
        if ok && index < n {
            return (index, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    /// Parses flags at `i`; returns the index after them.
    fn parse_flags(&mut self, s: &[u8], mut i: usize) -> usize {
        while i < s.len() {
            match s[i] {
                b'#' => self.f.sharp = true,
                b'0' => self.f.zero = !self.f.minus,
                b'+' => self.f.plus = true,
                b'-' => {
                    self.f.minus = true;
                    self.f.zero = false;
                }
                b' ' => self.f.space = true,
                _ => break,
            }
            i += 1;
        }
        i
    }

    /// Width and precision (with `*` and indexes); returns (i, arg_num, after_index).
    fn parse_width_prec(
        &mut self,
        s: &[u8],
        mut i: usize,
        mut arg_num: usize,
        args: &[Value],
    ) -> (usize, usize, bool) {
        let end = s.len();
        let after;
        (arg_num, i, after) = self.arg_number(arg_num, s, i, args.len());
        let mut after_index = after;
        if i < end && s[i] == b'*' {
            i += 1;
            let (w, ok, n) = int_from_arg(args, arg_num);
            arg_num = n;
            self.f.wid_present = ok;
            if !ok {
                self.buf.push_str("%!(BADWIDTH)");
            }
            if w < 0 {
                self.f.minus = true;
                self.f.zero = false;
            }
            self.f.wid = w.unsigned_abs() as usize;
            after_index = false;
        } else {
            (self.f.wid, self.f.wid_present, i) = parsenum(s, i, end);
            if after_index && self.f.wid_present {
                self.good_arg_num = false;
            }
        }
        if i + 1 < end && s[i] == b'.' {
            i += 1;
            if after_index {
                self.good_arg_num = false;
            }
            (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len());
            if i < end && s[i] == b'*' {
                i += 1;
                let (p, ok, n) = int_from_arg(args, arg_num);
                arg_num = n;
                self.f.prec_present = ok && p >= 0;
                self.f.prec = if p < 0 { 0 } else { p as usize };
                if !self.f.prec_present {
                    self.buf.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                (self.f.prec, self.f.prec_present, i) = parsenum(s, i, end);
                if !self.f.prec_present {
                    self.f.prec = 0;
                    self.f.prec_present = true;
                }
            }
        }
        if !after_index {
            (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len());
        }
        (i, arg_num, after_index)
    }

    /// Go's doPrintf.
    pub(super) fn do_printf(&mut self, format: &str, args: &[Value]) {
        let s = format.as_bytes();
        let end = s.len();
        let mut arg_num = 0;
        let mut i = 0;
        self.reordered = false;
        while i < end {
            self.good_arg_num = true;
            let last = i;
            while i < end && s[i] != b'%' {
                i += 1;
            }
            self.buf.push_str(&format[last..i]);
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            i = self.parse_flags(s, i);
            (i, arg_num, _) = self.parse_width_prec(s, i, arg_num, args);
            if i >= end {
                self.buf.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('%');
            i += verb.len_utf8();
            if verb == '%' {
                self.buf.push('%');
            } else if !self.good_arg_num {
                self.buf.push_str(&format!("%!{verb}(BADINDEX)"));
            } else if arg_num >= args.len() {
                self.buf.push_str(&format!("%!{verb}(MISSING)"));
            } else {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[arg_num], verb);
                arg_num += 1;
            }
        }
        if !self.reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (k, a) in args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.buf.push_str(", ");
                }
                if a.is_nil() {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(&a.type_name());
                    self.buf.push('=');
                    self.print_arg(a, 'v');
                }
            }
            self.buf.push(')');
        }
    }
}
