"""The synthetic hospital world.

``world`` plans it and draws its patients, ``stays`` what happens to them in hospital, ``records``
what the hospital records of it; ``generate`` writes it in blocks, ``period`` a next period under a
named shift, ``corrupt`` injects faults, and ``report`` checks the calibration.
"""
