//! `${VAR}` interpolation with Compose's semantics.
//!
//! Takes: one scalar's text and a lookup of variables. Gives: the substituted text and the names it
//! read, or every problem in the text (missing variables, `:?` messages, bad syntax) with the
//! character offset of each, so the caller can point at the exact column.
//!
//! Supported, as in Compose: `$$` (a literal `$`), `$VAR`, `${VAR}`, `${VAR:-default}` (unset or
//! empty), `${VAR-default}` (unset), `${VAR:?message}`, `${VAR?message}`, `${VAR:+replacement}`,
//! `${VAR+replacement}`; defaults and replacements may themselves contain interpolations.
//!
//! Two rule sets: [`interpolate`] for stack specs is stricter than Compose (a variable that is unset
//! and has no default is an error, a lone `$` too); [`interpolate_compose`] is Compose's own (an
//! unset variable is an empty string, named in [`Output::unset`] for a warning, and a `$` that
//! starts no expression stays as it is).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `${NAME}` with NAME unset and no default.
    Missing { name: String },
    /// `${NAME:?message}` (or `?`) with NAME unset (or empty).
    Required { name: String, message: String },
    /// Malformed `$` expression.
    Syntax { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub problem: Problem,
    /// Character offset in the input where the expression starts, and its length in characters.
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    /// Every variable the text read, in order, including ones only tested by `:-`.
    pub used: Vec<String>,
    /// Compose rules only: variables that were unset and gave an empty string.
    pub unset: Vec<String>,
}

/// The stack spec's rules: an unset variable without a default is an error.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Output, Vec<Located>> {
    with_rules(input, lookup, false)
}

/// Compose's rules: an unset variable is an empty string; a lone `$` is literal.
pub fn interpolate_compose(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Output, Vec<Located>> {
    with_rules(input, lookup, true)
}

fn with_rules(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    compose: bool,
) -> Result<Output, Vec<Located>> {
    let chars: Vec<char> = input.chars().collect();
    let mut cx = Cx {
        lookup,
        compose,
        out: Output::default(),
        problems: Vec::new(),
    };
    run(&chars, 0, &mut cx);
    if cx.problems.is_empty() {
        Ok(cx.out)
    } else {
        Err(cx.problems)
    }
}

struct Cx<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    compose: bool,
    out: Output,
    problems: Vec<Located>,
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Interpolates `chars` (which start at character `base` of the original input) into `cx.out`.
fn run(chars: &[char], base: usize, cx: &mut Cx) {
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            cx.out.text.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                cx.out.text.push('$');
                i += 2;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                substitute(&name, None, base + i, j - i, cx);
                i = j;
            }
            Some('{') => {
                // Find the matching close brace, allowing nested `${...}` in defaults.
                let mut depth = 0usize;
                let mut j = i + 1;
                let mut close = None;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let Some(close) = close else {
                    cx.problems.push(Located {
                        problem: Problem::Syntax {
                            message: "unclosed `${`".into(),
                        },
                        offset: base + i,
                        len: chars.len() - i,
                    });
                    return;
                };
                let inner = &chars[i + 2..close];
                braced(inner, base + i, close + 1 - i, base + i + 2, cx);
                i = close + 1;
            }
            _ if cx.compose => {
                cx.out.text.push('$');
                i += 1;
            }
            _ => {
                cx.problems.push(Located {
                    problem: Problem::Syntax {
                        message:
                            "a `$` must start `${NAME}` or `$NAME`; write `$$` for a literal `$`"
                                .into(),
                    },
                    offset: base + i,
                    len: 1,
                });
                i += 1;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    DefaultIfUnsetOrEmpty,
    DefaultIfUnset,
    RequireSetNonEmpty,
    RequireSet,
    ReplaceIfSetNonEmpty,
    ReplaceIfSet,
}

fn braced(inner: &[char], start: usize, len: usize, inner_base: usize, cx: &mut Cx) {
    let name_end = inner
        .iter()
        .position(|c| !is_name_char(*c))
        .unwrap_or(inner.len());
    let name: String = inner[..name_end].iter().collect();
    if name.is_empty() || !is_name_start(inner[0]) {
        cx.problems.push(Located {
            problem: Problem::Syntax {
                message: format!(
                    "`${{{}}}` is not a valid variable reference",
                    inner.iter().collect::<String>()
                ),
            },
            offset: start,
            len,
        });
        return;
    }
    let rest = &inner[name_end..];
    if rest.is_empty() {
        substitute(&name, None, start, len, cx);
        return;
    }
    let (op, skip) = match rest {
        [':', '-', ..] => (Op::DefaultIfUnsetOrEmpty, 2),
        ['-', ..] => (Op::DefaultIfUnset, 1),
        [':', '?', ..] => (Op::RequireSetNonEmpty, 2),
        ['?', ..] => (Op::RequireSet, 1),
        [':', '+', ..] => (Op::ReplaceIfSetNonEmpty, 2),
        ['+', ..] => (Op::ReplaceIfSet, 1),
        _ => {
            cx.problems.push(Located {
                problem: Problem::Syntax {
                    message: format!(
                        "unexpected `{}` after `${{{name}`; expected `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+`",
                        rest[0]
                    ),
                },
                offset: start,
                len,
            });
            return;
        }
    };
    substitute(
        &name,
        Some((op, &rest[skip..], inner_base + name_end + skip)),
        start,
        len,
        cx,
    );
}

fn substitute(name: &str, op: Option<(Op, &[char], usize)>, start: usize, len: usize, cx: &mut Cx) {
    cx.out.used.push(name.to_string());
    let value = (cx.lookup)(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let Some((op, arg, arg_base)) = op else {
        match value {
            Some(v) => cx.out.text.push_str(&v),
            None if cx.compose => cx.out.unset.push(name.into()),
            None => cx.problems.push(Located {
                problem: Problem::Missing { name: name.into() },
                offset: start,
                len,
            }),
        }
        return;
    };
    match op {
        Op::DefaultIfUnsetOrEmpty if !non_empty => run(arg, arg_base, cx),
        Op::DefaultIfUnset if !set => run(arg, arg_base, cx),
        Op::ReplaceIfSetNonEmpty if non_empty => run(arg, arg_base, cx),
        Op::ReplaceIfSet if set => run(arg, arg_base, cx),
        Op::ReplaceIfSetNonEmpty | Op::ReplaceIfSet => {}
        Op::RequireSetNonEmpty if !non_empty => required(name, arg, start, len, &mut cx.problems),
        Op::RequireSet if !set => required(name, arg, start, len, &mut cx.problems),
        _ => cx.out.text.push_str(value.as_deref().unwrap_or_default()),
    }
}

fn required(name: &str, arg: &[char], start: usize, len: usize, problems: &mut Vec<Located>) {
    let message: String = arg.iter().collect();
    problems.push(Located {
        problem: Problem::Required {
            name: name.into(),
            message,
        },
        offset: start,
        len,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "TAG" => Some("1.4.2".into()),
            "EMPTY" => Some(String::new()),
            "REGISTRY" => Some("ghcr.io/acme".into()),
            _ => None,
        }
    }

    fn ok(s: &str) -> String {
        interpolate(s, &lookup).unwrap().text
    }

    fn problems(s: &str) -> Vec<Located> {
        interpolate(s, &lookup).unwrap_err()
    }

    #[test]
    fn compose_rules_make_unset_empty_and_keep_a_lone_dollar() {
        let out = interpolate_compose(
            "${UNSET}-${TAG:-d}-${TAG:+r}-$$HOME-${EMPTY-x}-${EMPTY:-y} cost $5",
            &lookup,
        )
        .unwrap();
        assert_eq!(out.text, "-1.4.2-r-$HOME--y cost $5");
        assert_eq!(out.unset, vec!["UNSET"]);
        assert!(interpolate_compose("${1X}", &lookup).is_err());
        assert!(interpolate_compose("${UNSET:?needed}", &lookup).is_err());
    }

    #[test]
    fn compose_forms() {
        assert_eq!(ok("${REGISTRY}/api:${TAG}"), "ghcr.io/acme/api:1.4.2");
        assert_eq!(ok("$TAG-x"), "1.4.2-x");
        assert_eq!(ok("$$TAG"), "$TAG");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${UNSET-d}"), "d");
        assert_eq!(ok("${UNSET:-${TAG}}"), "1.4.2");
        assert_eq!(ok("${TAG:+yes}"), "yes");
        assert_eq!(ok("${EMPTY:+yes}"), "");
        assert_eq!(ok("${EMPTY+yes}"), "yes");
        assert_eq!(ok("${UNSET+yes}"), "");
        assert_eq!(ok("no dollars"), "no dollars");
    }

    #[test]
    fn every_missing_variable_is_reported_with_its_offset() {
        let p = problems("a ${ONE} b ${TWO:?set TWO}");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].problem, Problem::Missing { name: "ONE".into() });
        assert_eq!((p[0].offset, p[0].len), (2, 6));
        assert_eq!(
            p[1].problem,
            Problem::Required {
                name: "TWO".into(),
                message: "set TWO".into()
            }
        );
        assert_eq!(p[1].offset, 11);
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(problems("${")[0].problem, Problem::Syntax { .. }));
        assert!(matches!(
            problems("${1A}")[0].problem,
            Problem::Syntax { .. }
        ));
        assert!(matches!(problems("$ x")[0].problem, Problem::Syntax { .. }));
        assert!(matches!(
            problems("${A*b}")[0].problem,
            Problem::Syntax { .. }
        ));
    }

    #[test]
    fn reports_used_names() {
        let out = interpolate("${UNSET:-${TAG}}", &lookup).unwrap();
        assert_eq!(out.used, vec!["UNSET".to_string(), "TAG".to_string()]);
    }

    #[test]
    fn values_are_not_reinterpolated() {
        let l = |n: &str| (n == "A").then(|| "${B} {{ x }}".to_string());
        assert_eq!(interpolate("${A}", &l).unwrap().text, "${B} {{ x }}");
    }
}
