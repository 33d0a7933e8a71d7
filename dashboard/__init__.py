"""The clinical dashboard (Streamlit): pages over the de-identified outputs of make train and
make monitor. It imports configs, features and monitoring; never training or serving."""
