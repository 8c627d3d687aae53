"""DRAEM (Zavrtanik, Kristan, Skocaj, ICCV 2021): reconstructive + discriminative sub-networks
trained on simulated anomalies; a baseline of ReSynthDetect (Tables 1-2)."""
