"""Print the data inventory: every model, the personal data it holds, how it is kept, and whether the
student's export includes it. ``--markdown`` prints docs/data-inventory.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy.inventory import inventory_markdown, inventory_table


class Command(BaseCommand):
    help = "Print the data inventory as a table, or as Markdown (docs/data-inventory.md) with --markdown."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--markdown", action="store_true", help="Print docs/data-inventory.md.")

    def handle(self, *args: Any, markdown: bool = False, **options: Any) -> None:
        self.stdout.write(inventory_markdown() if markdown else inventory_table(), ending="")
