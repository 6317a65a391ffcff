# %% [markdown]
# # experiments

# %%
print(1 + 1)
