"""Prepare a landmark dataset for training: raw faces -> DATA_ROOT/{train_data,test_data}/{imgs,list.txt}.
The code is fbnet_pfld/prepare.py; ``python prepare.py --help`` lists the sources and flags.

    python prepare.py --source pts --train my_faces/train --test my_faces/val --out data/mine
"""

from fbnet_pfld.prepare import main

if __name__ == "__main__":
    main()
