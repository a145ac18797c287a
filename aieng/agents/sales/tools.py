"""The workflow's seven narrow tools, the approval gate and the email.

Taught in Month 9 (chapters/09-agents/04-a-task-end-to-end); part of :mod:`aieng.agents.sales`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

from aieng.agents.sales.db import DIRECTORY, SENDER, SalesDB, SalesError
from aieng.agents.sales.report import chart_png, report_html
from aieng.agents.tools import Tool, ToolBox

__all__ = ["Approver", "sales_tools"]


@dataclass
class _Workspace:
    charts: dict[str, bytes] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    approvals: dict[str, str] = field(default_factory=dict)
    sent: list[EmailMessage] = field(default_factory=list)


Approver = Callable[[str, str, str], bool]
"""``approve(to_address, subject, report_html) -> bool``: a person says yes or no before the email goes out."""


def sales_tools(db: SalesDB, smtp_server: str, approve: Approver, directory: Mapping[str, str] | None = None,
                timeout_s: float = 30.0) -> ToolBox:
    """The workflow's seven narrow tools over ``db``, sending through the SMTP server ``"host:port"``.

    ``send_email`` refuses to run without the approval id that ``request_approval`` returns when
    ``approve(...)`` says yes, so no plan (written by us or by a model) can mail a report nobody approved.
    The tool box's ``workspace`` attribute holds the charts, reports and sent messages of the run.
    """
    from aieng.foundations.mail import send_message

    people = dict(directory or DIRECTORY)
    ws = _Workspace()

    def address(to: str) -> str:
        if to not in people:
            raise SalesError(f"unknown recipient {to!r}; reports go to one of {sorted(people)}")
        return people[to]

    def sales_summary(start: str, end: str) -> dict:
        """Orders, pizzas sold, revenue and trading days between two dates.

        Parameters
        ----------
        start
            First day, YYYY-MM-DD.
        end
            Last day, YYYY-MM-DD.
        """
        return db.summary(start, end)

    def top_products(start: str, end: str, k: int, by: Literal["revenue", "quantity"]) -> list:
        """The k best-selling pizzas between two dates, ranked by revenue or quantity.

        Parameters
        ----------
        start
            First day, YYYY-MM-DD.
        end
            Last day, YYYY-MM-DD.
        k
            How many products.
        by
            Rank by revenue or by quantity sold.
        """
        return db.top_products(start, end, k, by)

    def monthly_sales(start: str, end: str) -> list:
        """Pizzas sold and revenue per month between two dates.

        Parameters
        ----------
        start
            First day, YYYY-MM-DD.
        end
            Last day, YYYY-MM-DD.
        """
        return db.monthly(start, end)

    def make_chart(kind: Literal["top_products", "monthly_revenue"], data: list, title: str) -> str:
        """Draw a chart of rows from top_products or monthly_sales; returns the chart's file name.

        Parameters
        ----------
        kind
            Which chart.
        data
            The rows to draw.
        title
            The chart's title.
        """
        name = f"{kind}.png"
        ws.charts[name] = chart_png(kind, data, title)
        return name

    def write_report(title: str, summary: dict, top: list, monthly: list, charts: list[str]) -> str:
        """Write the HTML report from the figures and charts; returns the report's file name.

        Parameters
        ----------
        title
            The report's title.
        summary
            From sales_summary.
        top
            From top_products.
        monthly
            From monthly_sales.
        charts
            File names from make_chart.
        """
        missing = [c for c in charts if c not in ws.charts]
        if missing:
            raise SalesError(f"no such chart(s) {missing}; draw them with make_chart first")
        name = "report.html"
        ws.reports[name] = report_html(title, summary, top, monthly, {c: ws.charts[c] for c in charts})
        return name

    def request_approval(report: str, to: str, subject: str) -> str:
        """Ask a person to approve sending the report; returns an approval id, fails if refused.

        Parameters
        ----------
        report
            File name from write_report.
        to
            Recipient role.
        subject
            The email's subject.
        """
        if report not in ws.reports:
            raise SalesError(f"no report named {report!r}; write it with write_report first")
        if not approve(address(to), subject, ws.reports[report]):
            raise PermissionError(f"sending {report} to {to} was not approved")
        token = f"approval-{len(ws.approvals) + 1}"
        ws.approvals[token] = report
        return token

    def send_email(to: str, subject: str, report: str, approval: str) -> str:
        """Email the approved report, with its charts attached, to a recipient.

        Parameters
        ----------
        to
            Recipient role.
        subject
            The subject line.
        report
            File name from write_report.
        approval
            The id request_approval returned.
        """
        if ws.approvals.get(approval) != report:
            raise PermissionError(f"{report!r} has no approval {approval!r}: call request_approval first")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = SENDER, address(to), subject
        msg.set_content(f"Hello {to},\n\nthe report is attached ({report}, with "
                        f"{len(ws.charts)} chart(s)).\n\n-- the reporting agent\n")
        msg.add_attachment(ws.reports[report].encode("utf-8"), maintype="text", subtype="html", filename=report)
        for name, png in ws.charts.items():
            msg.add_attachment(png, maintype="image", subtype="png", filename=name)
        send_message(msg, smtp_server)
        ws.sent.append(msg)
        return f"sent to {msg['To']}"

    box = ToolBox([Tool.from_function(f, timeout_s=timeout_s)
                   for f in (sales_summary, top_products, monthly_sales, make_chart, write_report,
                             request_approval, send_email)], max_chars=1500)
    box.workspace = ws  # type: ignore[attr-defined]
    return box
