# %% [markdown]
# # training

# %%
print(1 + 1)
