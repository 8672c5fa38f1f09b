"""The side-by-side table each benchmark prints: a title, aligned columns, notes below."""


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
