"""The roadmap's enterprise task as a workflow a 135M model gets through: a sales report, charted and emailed.

Taught in Month 9 (chapters/09-agents/04-a-task-end-to-end); the single-agent baseline of Month 10.

The objective: *analyse the last three months of sales, find the top products, write a report with charts and
email it to management.* A small model cannot plan that freely (notebook 3 measured it), so the workflow is
engineered so that the model makes only the decisions it can make well:

- **a narrow tool set** over the sales table (:func:`sales_tools`): ``sales_summary``, ``top_products``,
  ``monthly_sales``, ``make_chart``, ``write_report``, ``request_approval``, ``send_email``. Each validates its
  input and fails with a message that says what is allowed (a date outside the data, an unknown product or
  recipient);
- **a plan the model fills in** (:func:`plan_graph`): a fixed :class:`aieng.agents.planning.TaskGraph` whose
  open arguments (the period, how many products, ranked by what, to whom) are *slots*;
- **constrained decoding** (:func:`fill_slots`): the model writes one *plan sentence* (:func:`plan_pattern`),
  "Plan: sales from January to March 2015, the top 5 products by revenue, email management the report.",
  in which only the five blanks are free and each is an enumerated option, so the reply always parses and
  every value is one the plan can use. Whether it is the *right* one is what we measure. (``style="call"``
  fills the same blanks as one ``plan_report(...)`` tool call, for comparison: the chapter measures both);
- **a person approves** before the email goes out (``approve`` callback; scripted in tests).

:func:`run_workflow` does it once; :func:`make_requests` draws seeded variations of the request (wording, k,
ranking, recipient) and :func:`verify_delivery` judges a run: the email arrived, carries its attachments, and
its numbers equal an independent computation (:func:`reference_figures`, raw CSV -> pandas ``groupby``, a code
path that shares nothing with the SQL the tools run).
"""


from aieng.agents.sales.db import (
    BY_OPTIONS,
    CHART_KINDS,
    DIRECTORY,
    K_OPTIONS,
    SENDER,
    SalesDB,
    SalesError,
    month_bounds,
)
from aieng.agents.sales.judge import (
    TEMPLATES,
    Request,
    evaluate,
    make_requests,
    reference_figures,
    verify_delivery,
)
from aieng.agents.sales.plan import (
    BY_WORDS,
    CALL_INSTRUCTIONS,
    MONTHS,
    PLAN_INSTRUCTIONS,
    Slots,
    WorkflowRun,
    fill_slots,
    parse_plan,
    plan_graph,
    plan_pattern,
    run_workflow,
    slot_schema,
)
from aieng.agents.sales.report import chart_png, read_report, report_html
from aieng.agents.sales.tools import sales_tools

__all__ = ["BY_OPTIONS", "BY_WORDS", "CALL_INSTRUCTIONS", "CHART_KINDS", "DIRECTORY", "K_OPTIONS", "MONTHS", "PLAN_INSTRUCTIONS", "SENDER", "TEMPLATES", "Request", "SalesDB", "SalesError", "Slots", "WorkflowRun", "chart_png", "evaluate", "fill_slots", "make_requests", "month_bounds", "parse_plan", "plan_graph", "plan_pattern", "read_report", "reference_figures", "report_html", "run_workflow", "sales_tools", "slot_schema", "verify_delivery"]
