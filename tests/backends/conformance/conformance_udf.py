"""The user function of pipelines/io.pipe, as a user would write it: pandas in, pandas out."""
import pandas as pd


def add_tax(frame: pd.DataFrame, rate: float) -> pd.DataFrame:
    return frame.assign(taxed=(frame["fare"] * (1 + rate)).round(4))
