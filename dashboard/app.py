"""The clinical dashboard: ``make dashboard``, or
``streamlit run dashboard/app.py -- [--profile P] [--data-dir DIR] [key=value ...]``.

It reads what ``make train`` and ``make monitor`` leave (the de-identified clean tables, the
MLflow registry, reports/), never the raw tables."""

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(
    page_title="Hospital analytics", page_icon=":material/local_hospital:", layout="wide"
)
st.navigation(
    [
        st.Page(VIEWS / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(VIEWS / "patients.py", title="Patients", icon=":material/groups:"),
        st.Page(VIEWS / "treatments.py", title="Treatments", icon=":material/medication:"),
        st.Page(VIEWS / "facilities.py", title="Facilities", icon=":material/local_hospital:"),
        st.Page(VIEWS / "journeys.py", title="Patient journeys", icon=":material/route:"),
        st.Page(VIEWS / "capacity.py", title="Capacity", icon=":material/bed:"),
        st.Page(VIEWS / "emergency.py", title="Emergency department", icon=":material/emergency:"),
        st.Page(VIEWS / "quality.py", title="Quality and staffing", icon=":material/verified:"),
        st.Page(VIEWS / "risk.py", title="Risk", icon=":material/monitor_heart:"),
        st.Page(VIEWS / "finance.py", title="Finance", icon=":material/payments:"),
        st.Page(VIEWS / "medications.py", title="Medications", icon=":material/pill:"),
        st.Page(VIEWS / "decisions.py", title="Decisions", icon=":material/balance:"),
        st.Page(VIEWS / "model_health.py", title="Model health", icon=":material/insights:"),
    ]
).run()
