"""The side-by-side table each benchmark prints: a title, aligned columns, notes below."""

from interleave import compare


class Table:
    """Rows of already formatted cells; the first column is left-aligned, the others right."""

    def __init__(self, title, columns, notes=()):
        self.title = title
        self.columns = list(columns)
        self.rows = []
        self.notes = list(notes)

    def add_row(self, *cells):
        if len(cells) != len(self.columns):
            raise ValueError(f"row has {len(cells)} cells, table has {len(self.columns)}")
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        widths = [max(len(row[index]) for row in [self.columns, *self.rows])
                  for index in range(len(self.columns))]

        def line(cells):
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
            return "  ".join([first, *rest]).rstrip()

        rule = "-" * len(line(self.columns))
        lines = [self.title, rule, line(self.columns), rule]
        lines += [line(row) for row in self.rows]
        lines.append(rule)
        lines += self.notes
        return "\n".join(lines)


def percent(added, baseline):
    return f"{added / baseline * 100:+.2f}%"


def target_verdict(target, outcome, baseline):
    """Judged on the whole confidence interval: met, missed, or not resolved from the noise."""
    if target is None:
        return ""
    if outcome.added_high / baseline * 100 <= target:
        return f"<= {target}%: met"
    if outcome.added_low / baseline * 100 > target:
        return f"<= {target}%: missed"
    return f"<= {target}%: unsure"


def overhead_table(title, outcomes, checks, baseline_name, targets, rounds, runs,
                   warm_up=""):
    """The table of an overhead benchmark: each variant's time per run and what it adds to
    ``baseline_name``'s (interleave.Outcome values), its target in % and what its check saw.
    ``warm_up`` says what each batch ran untimed before its timed runs, if anything."""
    baseline = outcomes[baseline_name].median
    after = f" (after {warm_up} untimed)" if warm_up else ""  # Of the batch's variant.
    table = Table(title, ["variant", "ms/run", "added", "[95% CI]", "x baseline", "target",
                          "checked before timing"], notes=[
        f"Medians of {rounds} interleaved rounds, {runs} timed run(s) per variant per "
        f"round{after}. 'added' is the median of the per-round differences",
        "to the baseline in % of the baseline's median, with its 95% confidence interval; ~ "
        "marks one the noise hides. A target is met",
        "when the whole interval is within it, missed when the whole interval is above it."])
    for name, outcome in outcomes.items():
        cells = [name, f"{outcome.median:.3f}"]
        if name == baseline_name:
            cells += ["-", "", "1.00", ""]
        else:
            marker = "" if outcome.added_resolved else "~"
            cells += [marker + percent(outcome.added_median, baseline),
                      f"[{percent(outcome.added_low, baseline)}, "
                      f"{percent(outcome.added_high, baseline)}]",
                      f"{outcome.median / baseline:.2f}",
                      target_verdict(targets.get(name), outcome, baseline)]
        table.add_row(*cells, checks[name])
    return table


def measure_overhead(title, variants, baseline_name, targets, rounds, runs, warm_up=""):
    """Times ``variants`` ({name: (batch function, what its check saw)}, the baseline first)
    in ``rounds`` interleaved rounds (interleave.compare); their overhead_table."""
    outcomes = compare({name: timed for name, (timed, _) in variants.items()}, baseline_name,
                       rounds)
    checks = {name: checked for name, (_, checked) in variants.items()}
    return overhead_table(title, outcomes, checks, baseline_name, targets, rounds, runs,
                          warm_up)
