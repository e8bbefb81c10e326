"""How the CSV files users open write their floats.

Arithmetic in binary floats leaves noise in the last bits: a 1.04 credit less a 0.58
debit is 0.45999999999999996, and pandas writes every float with all 17 digits. Report
CSVs write 12 significant digits instead, which drops that noise and keeps every figure
to about 5e-13 of its value, far inside the 1e-9 results are compared at. Stores that are
read back (parquet, journals, caches) keep the exact floats.
"""

#: ``float_format`` of every report CSV (``DataFrame.to_csv(..., float_format=...)``)
CSV_FLOAT_FORMAT = "%.12g"
